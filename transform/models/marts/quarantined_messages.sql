-- Incremental (delete+insert by message_id) rather than a table: no rename/drop swap that a
-- concurrent run could trip over; each run refreshes only the messages received since the last.
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
    {% if is_incremental() %}
    -- Only what was (re)received since the last run; older rows are already here.
    and last_received_at >= (
        select coalesce(max(last_received_at), '-infinity') from {{ this }}
    )
    {% endif %}

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
