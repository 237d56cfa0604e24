-- The application's table of logins, adopted: never created, rebuilt or altered by dbt
-- (macros/delivery.sql). Its rows are the ledger's logins not delivered yet; the 'deliver'
-- strategy inserts them and marks them delivered in the ledger in the same statement.
{{
    config(
        materialized='incremental',
        incremental_strategy='deliver',
        full_refresh=false,
        on_schema_change='fail',
        schema=var('user_logins_schema'),
        alias=var('user_logins_table'),
        pre_hook=["{{ require_table(this) }}"],
        post_hook=[
            "{{ mark_transformed('rejection_reason is null', ref('login_deliveries'),
                                 'done.delivered_at is not null') }}",
        ],
    )
}}

with

undelivered as (

    select * from {{ ref('login_deliveries') }}
    where delivered_at is null

),

final as (

    select
        user_id,
        device_type,
        masked_ip,
        masked_device_id,
        locale,
        app_version,
        create_date
    from undelivered

)

select * from final
