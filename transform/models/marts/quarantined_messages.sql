-- Incremental (delete+insert by message_id) rather than a table: no rename/drop swap that a
-- concurrent run could trip over. Each run adds the rejected messages not yet quarantined
-- and, in the same transaction, marks their staging rows transformed.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
        post_hook=[
            "{{ ensure_index('message_id', unique=true) }}",
            "{{ mark_transformed('rejection_reason is not null') }}",
        ],
    )
}}

with

rejected as (

    select * from {{ ref('stg_sqs__logins') }}
    where rejection_reason is not null

),

final as (

    select
        message_id,
        rejection_reason,
        sent_at,
        received_at as first_received_at,
        received_at as last_received_at,
        receive_count,
        dead_letter_message_id
    from rejected

)

select * from final
