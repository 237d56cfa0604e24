-- The staged messages dbt has not yet delivered or quarantined (partial index on
-- _transformed_at is null), renamed and cast. target-postgres keeps one row per message_id.
with

source as (

    select * from {{ source('sqs', 'logins') }}
    where _transformed_at is null

),

renamed as (

    select
        message_id,
        cast(sent_at as timestamp) as sent_at,
        cast(sent_date as date) as sent_date,
        receive_count,
        user_id,
        device_type,
        locale,
        masked_ip,
        masked_device_id,
        app_version,
        cast(split_part(app_version, '.', 1) as integer) as app_major_version,
        rejection_reason,
        _refused_reason as refused_reason,
        dead_letter_message_id,
        _sdc_extracted_at as received_at
    from source

)

select * from renamed
