{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[
            {'columns': ['message_id'], 'unique': True},
            {'columns': ['dbt_invocation_id']},
        ],
        post_hook=[
            "{{ ensure_index('message_id', where='delivered_at is null') }}",
            "{{ prune_deliveries() }}",
        ],
    )
}}

with

logins as (

    select * from {{ ref('stg_sqs__logins') }}
    where rejection_reason is null

),

undelivered as (

    select * from logins
    {% if is_incremental() %}
        -- offset 0 keeps this a per-row probe of the unique index: as a join, the planner
        -- would hash the whole ledger once enough rows are pending.
        where not exists (
            select 1 from {{ this }} as delivered
            where delivered.message_id = logins.message_id
            offset 0  -- noqa: AM09
        )
    {% endif %}

),

final as (

    select
        message_id,
        cast(user_id as varchar(128)) as user_id,
        cast(device_type as varchar(32)) as device_type,
        cast(masked_ip as varchar(256)) as masked_ip,
        cast(masked_device_id as varchar(256)) as masked_device_id,
        cast(locale as varchar(32)) as locale,
        app_major_version as app_version,
        sent_date as create_date,
        -- Set by user_logins in the transaction that delivers the row.
        cast(null as timestamptz) as delivered_at,
        cast('{{ invocation_id }}' as varchar(64)) as dbt_invocation_id
    from undelivered

)

select * from final
