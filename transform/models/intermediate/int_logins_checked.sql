-- A valid login that cannot be stored in user_logins as is (a value longer than its
-- column, no usable version) is rejected here instead of failing every later run.
with

logins as (

    select * from {{ ref('stg_sqs__logins') }}

),

checked as (

    select
        *,
        case
            when rejection_reason is not null then rejection_reason
            when user_id is null then 'not deliverable: user_id is null'
            when app_major_version is null then 'not deliverable: app_version has no major number'
            when char_length(user_id) > 128 then 'not deliverable: user_id longer than 128'
            when char_length(device_type) > 32 then 'not deliverable: device_type longer than 32'
            when char_length(masked_ip) > 256 then 'not deliverable: masked_ip longer than 256'
            when char_length(masked_device_id) > 256
                then 'not deliverable: masked_device_id longer than 256'
            when char_length(locale) > 32 then 'not deliverable: locale longer than 32'
        end as rejection_reason_checked
    from logins

),

final as (

    select
        message_id,
        sent_at,
        sent_date,
        receive_count,
        user_id,
        device_type,
        locale,
        masked_ip,
        masked_device_id,
        app_version,
        app_major_version,
        rejection_reason_checked as rejection_reason,
        rejection_reason_checked is null as is_deliverable,
        dead_letter_message_id,
        first_received_at,
        last_received_at
    from checked

)

select * from final
