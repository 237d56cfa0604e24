{#- The existing table that valid logins are delivered into; dbt never creates or alters it. -#}
{% macro user_logins_relation() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=var('user_logins_schema'),
        identifier=var('user_logins_table'),
        type='table',
    )) }}
{%- endmacro %}

{#- Transaction-scoped lock taken first by every model: two concurrent runs build
    the same model one after the other, and the second sees what the first committed. -#}
{% macro lock_transform() -%}
    select pg_advisory_xact_lock(hashtext('tap_sqs_logins.transform'))
{%- endmacro %}

{#- Post-hook of login_deliveries, run in the same transaction as its incremental
    insert: copies exactly this invocation's new deliveries into user_logins. -#}
{% macro insert_into_user_logins() -%}
    insert into {{ user_logins_relation() }} (
        user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
    )
    select user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
    from {{ this }}
    where dbt_invocation_id = '{{ invocation_id }}'
    order by message_id
{%- endmacro %}
