-- Incremental (delete+insert by message_id) rather than a table: no rename/drop swap that a
-- concurrent run could trip over, and every run still refreshes each rejected message.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
    )
}}

with

rejected as (

    select * from {{ ref('int_logins_checked') }}
    where not is_deliverable

),

final as (

    select
        message_id,
        rejection_reason,
        sent_at,
        first_received_at,
        last_received_at,
        receive_count,
        dead_letter_message_id
    from rejected

)

select * from final
