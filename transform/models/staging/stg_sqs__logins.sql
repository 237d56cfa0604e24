with

source as (

    select * from {{ source('sqs', 'logins') }}

),

deduplicated as (

    select
        *,
        min(_sdc_extracted_at) over (partition by message_id) as first_received_at,
        max(_sdc_extracted_at) over (partition by message_id) as last_received_at,
        row_number() over (
            partition by message_id
            order by _sdc_batched_at desc nulls last, _sdc_sequence desc nulls last
        ) as copy_number
    from source

),

renamed as (

    select
        message_id,
        cast(sent_at as timestamp) as sent_at,
        cast(cast(sent_at as timestamp) as date) as sent_date,
        receive_count,
        user_id,
        device_type,
        locale,
        masked_ip,
        masked_device_id,
        app_version,
        case
            when app_version ~ '^[0-9]{1,9}([.]|$)'
                then cast(split_part(app_version, '.', 1) as integer)
        end as app_major_version,
        rejection_reason,
        dead_letter_message_id,
        first_received_at,
        last_received_at
    from deduplicated
    where copy_number = 1

)

select * from renamed
