{#- Transaction-scoped lock taken first by every model: two concurrent runs build
    the same model one after the other, and the second sees what the first committed. -#}
{% macro lock_transform() -%}
    select pg_advisory_xact_lock(hashtext('tap_sqs_logins.transform'))
{%- endmacro %}

{#- Post-hook of login_deliveries, run in the same transaction as its incremental insert:
    copies exactly this invocation's new deliveries into user_logins, the existing table
    declared as source('app', 'user_logins') (models/marts/_app__sources.yml).

    The common path is one set-based insert. If user_logins refuses it (a CHECK constraint,
    a trigger, a stricter NOT NULL, a narrower column, a rule or trigger that skips a row),
    each row is tried alone instead, and so are the rows it refused before. A refused row
    leaves the ledger; its staging row keeps the database's reason (_refused_reason) and stays
    pending for dbt, so every run tries it again, it is never pruned, and
    quarantined_messages shows it until it is delivered. Deferred constraints are checked
    here, row by row, not at commit. An error that is not about a row (a missing table or
    column, a privilege, a lock or serialization failure, a lost connection) fails the run,
    which delivers nothing, as before. -#}
{% macro insert_into_user_logins() -%}
    {%- set columns -%}
        user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date
    {%- endset -%}
    {%- set mine -%}
        delivered.dbt_invocation_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- set refused_before -%}
        exists (
            select 1 from {{ source('sqs', 'logins') }} as staged
            where staged.message_id = delivered.message_id
                and staged._refused_reason is not null
        )
    {%- endset -%}
do $deliver$
declare
    login record;
    retrying constant boolean := exists (
        select 1 from {{ source('sqs', 'logins') }}
        where _transformed_at is null and _refused_reason is not null
    );
    expected bigint;
    inserted bigint;
    one_by_one boolean := false;
begin
    set constraints all immediate;
    begin
        select count(*) into expected from {{ this }} as delivered
        where {{ mine }} and not (retrying and {{ refused_before }});
        insert into {{ source('app', 'user_logins') }} ({{ columns }})
        select {{ columns }} from {{ this }} as delivered
        where {{ mine }} and not (retrying and {{ refused_before }})
        order by message_id;
        get diagnostics inserted = row_count;
        if inserted <> expected then
            raise exception 'user_logins inserted % of % rows', inserted, expected;
        end if;
    exception when others then
        if {{ _not_about_a_row() }} then
            raise;
        end if;
        one_by_one := true;
    end;
    for login in
        select * from {{ this }} as delivered
        where {{ mine }} and (one_by_one or (retrying and {{ refused_before }}))
        order by message_id
    loop
        begin
            insert into {{ source('app', 'user_logins') }} ({{ columns }})
            values (
                login.user_id, login.device_type, login.masked_ip, login.masked_device_id,
                login.locale, login.app_version, login.create_date
            );
            get diagnostics inserted = row_count;
            if inserted = 0 then
                raise exception 'a rule or trigger on user_logins skipped the row';
            end if;
            update {{ source('sqs', 'logins') }} set _refused_reason = null
            where message_id = login.message_id and _refused_reason is not null;
            if to_regclass('{{ this.schema }}.quarantined_messages') is not null then
                delete from {{ this.schema }}.quarantined_messages
                where message_id = login.message_id;
            end if;
        exception when others then
            if {{ _not_about_a_row() }} then
                raise;
            end if;
            delete from {{ this }} where message_id = login.message_id;
            update {{ source('sqs', 'logins') }}
            set _refused_reason = format(
                '{{ var('user_logins_schema') }}.{{ var('user_logins_table') }} refused it: '
                '%s (SQLSTATE %s)', sqlerrm, sqlstate
            )
            where message_id = login.message_id;
        end;
    end loop;
end
$deliver$
{%- endmacro %}

{#- In an exception handler: the error is about the statement or the session, not a row. -#}
{% macro _not_about_a_row() -%}
    left(sqlstate, 2) in (
        '08', '0A', '25', '40', '42', '53', '54', '55', '57', '58', 'F0', 'XX'
    )
{%- endmacro %}
