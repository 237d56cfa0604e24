-- Incremental (append) rather than a table: no rename/drop swap that a concurrent run could
-- trip over. Each run adds the rejected messages not yet quarantined and, in the same
-- transaction, marks their staging rows transformed. It also shows the valid logins that
-- user_logins refused (the user_logins model, built first, records the database's reason): those
-- stay pending, are tried again every run, and leave this table once delivered.
-- depends_on: {{ ref('user_logins') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        post_hook=[
            "{{ ensure_index('message_id', unique=true) }}",
            "{{ mark_transformed('rejection_reason is not null', this) }}",
            "{{ update_refusals() }}",
        ],
    )
}}

with

rejected as (

    select
        *,
        coalesce(rejection_reason, refused_reason) as reason
    from {{ ref('stg_sqs__logins') }} as logins
    where
        (rejection_reason is not null or refused_reason is not null)
        {% if is_incremental() %}
            -- A copy staged again after pruning. offset 0: a per-row probe of the unique index.
            and not exists (
                select 1 from {{ this }} as quarantined
                where quarantined.message_id = logins.message_id
                offset 0  -- noqa: AM09
            )
        {% endif %}

),

final as (

    select
        message_id,
        reason as rejection_reason,
        sent_at,
        received_at as first_received_at,
        received_at as last_received_at,
        receive_count,
        dead_letter_message_id
    from rejected

)

select * from final
