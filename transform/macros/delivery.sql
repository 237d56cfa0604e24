{#- Transaction-scoped lock taken first by every model: two concurrent runs build
    the same model one after the other, and the second sees what the first committed. -#}
{% macro lock_transform() -%}
    select pg_advisory_xact_lock(hashtext('tap_sqs_logins.transform'))
{%- endmacro %}

{#- Post-hook of login_deliveries, run in the same transaction as its incremental
    insert: copies exactly this invocation's new deliveries into user_logins, the existing table
    declared as source('app', 'user_logins') (models/marts/_app__sources.yml). -#}
{% macro insert_into_user_logins() -%}
    insert into {{ source('app', 'user_logins') }} (
        user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
    )
    select user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
    from {{ this }}
    where dbt_invocation_id = '{{ invocation_id }}'
    order by message_id
{%- endmacro %}
