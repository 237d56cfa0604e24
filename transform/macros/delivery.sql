{#- Transaction-scoped lock taken first by every model: two concurrent runs build
    the same model one after the other, and the second sees what the first committed. -#}
{% macro lock_transform() -%}
    select pg_advisory_xact_lock(hashtext('tap_sqs_logins.transform'))
{%- endmacro %}

{#- Pre-hook of user_logins: the table is the application's, created by its owners. dbt
    adopts it and never creates it, so a wrong user_logins_schema or user_logins_table fails
    the run instead of delivering into a new table (and a view is never swapped for a table). -#}
{% macro require_table(relation) -%}
    {%- if execute -%}
        {%- set existing = load_relation(relation) -%}
        {%- if existing is none or not existing.is_table -%}
            {{ exceptions.raise_compiler_error(
                relation ~ " is not an existing table. dbt delivers into the application's"
                ~ " user_logins and never creates it: create it (transform/README.md), or set"
                ~ " the dbt vars user_logins_schema and user_logins_table to where it is."
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- on_schema_change='fail' of the model delivered by the 'deliver' strategy (user_logins),
    in place of dbt's check: the table it adopts must have the contract's columns (the temporary
    relation's), no other, each of the contract's type, except that a varchar may have any
    length (or be text): the database judges each value, and a row with one too long for the
    table is refused and quarantined like any other (get_incremental_deliver_sql). Any other
    difference fails the run before it delivers anything, naming what to fix; dbt never
    alters the table. Other models keep dbt's own check. -#}
{% macro postgres__check_for_schema_changes(source_relation, target_relation) -%}
    {%- if config.get('incremental_strategy') != 'deliver' -%}
        {{ return(default__check_for_schema_changes(source_relation, target_relation)) }}
    {%- endif -%}
    {%- set strings = ['character varying', 'text'] -%}
    {%- set contract = adapter.get_columns_in_relation(source_relation) -%}
    {%- set table = adapter.get_columns_in_relation(target_relation) -%}
    {%- set contract_names = contract | map(attribute='name') | list -%}
    {%- set problems = [] -%}
    {%- for column in contract -%}
        {%- set found = table | selectattr('name', 'equalto', column.name) | list -%}
        {%- if not found -%}
            {%- do problems.append('column ' ~ column.name ~ ' is missing') -%}
        {%- elif (found[0].dtype != column.dtype or found[0].data_type != column.data_type)
                and not (found[0].dtype in strings and column.dtype in strings) -%}
            {#- dbt's data_type calls char(n) 'character varying(n)': name its own type -#}
            {%- set type = found[0].data_type if found[0].dtype != 'character'
                else 'character(' ~ found[0].char_size ~ ')' -%}
            {%- do problems.append(
                'column ' ~ column.name ~ ' is ' ~ type ~ ', not ' ~ column.data_type
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for column in table if column.name not in contract_names -%}
        {%- do problems.append('column ' ~ column.name ~ ' is not in the contract') -%}
    {%- endfor -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            target_relation.schema ~ "." ~ target_relation.identifier
            ~ " does not match the contract of the " ~ model.name ~ " model ("
            ~ problems | join('; ') ~ "), so nothing was delivered. dbt never alters the"
            ~ " application's table: make it match the DDL in transform/README.md (a varchar"
            ~ " column may have any length), or set the dbt vars user_logins_schema and"
            ~ " user_logins_table to the right table."
        ) }}
    {%- endif -%}
    {{ return({
        'schema_changed': false, 'source_not_in_target': [], 'target_not_in_source': [],
        'source_columns': contract, 'target_columns': table, 'new_target_types': [],
    }) }}
{%- endmacro %}

{#- The incremental strategy of user_logins (incremental_strategy='deliver'): delivers the
    ledger's undelivered rows (the model's rows) and sets their delivered_at, in one statement
    and in the model's transaction, so the ledger and user_logins never disagree.

    The common path is one set-based statement. If user_logins refuses it (a CHECK constraint,
    a trigger, a stricter NOT NULL, a value too long for a narrower varchar, a rule or trigger
    that skips a row), each row is tried alone instead, and so are the rows it refused before.
    A refused row stays undelivered in the ledger; its staging row keeps the database's reason
    (_refused_reason) and stays pending for dbt, so every run tries it again, it is never
    pruned, and quarantined_messages shows it until it is delivered. Deferred constraints are
    checked here, row by row, not at commit. An error that is not about a row (a missing
    privilege, a lock or serialization failure, a lost connection) fails the run, which
    delivers nothing, as before. -#}
{% macro get_incremental_deliver_sql(arg_dict) -%}
    {%- set user_logins = arg_dict['target_relation'] -%}
    {%- set ledger = ref('login_deliveries') -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set refused_before -%}
        exists (
            select 1 from {{ source('sqs', 'logins') }} as staged
            where staged.message_id = ledger.message_id
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
        select count(*) into expected from {{ ledger }} as ledger
        where delivered_at is null and not (retrying and {{ refused_before }});
        with delivering as (
            update {{ ledger }} as ledger set delivered_at = now()
            where delivered_at is null and not (retrying and {{ refused_before }})
            returning *
        )
        insert into {{ user_logins }} ({{ columns }})
        select {{ columns }} from delivering order by message_id;
        get diagnostics inserted = row_count;
        if inserted <> expected then
            raise exception '{{ user_logins }} inserted % of % rows', inserted, expected;
        end if;
    exception when others then
        if {{ _not_about_a_row() }} then
            raise;
        end if;
        one_by_one := true;
    end;
    for login in
        select * from {{ ledger }} as ledger
        where delivered_at is null and (one_by_one or (retrying and {{ refused_before }}))
        order by message_id
    loop
        begin
            insert into {{ user_logins }} ({{ columns }})
            select {{ columns }} from {{ ledger }} where message_id = login.message_id;
            get diagnostics inserted = row_count;
            if inserted = 0 then
                raise exception 'a rule or trigger on user_logins skipped the row';
            end if;
            update {{ ledger }} set delivered_at = now() where message_id = login.message_id;
            update {{ source('sqs', 'logins') }} set _refused_reason = null
            where message_id = login.message_id and _refused_reason is not null;
            if to_regclass('{{ ledger.schema }}.quarantined_messages') is not null then
                delete from {{ ledger.schema }}.quarantined_messages
                where message_id = login.message_id;
            end if;
        exception when others then
            if {{ _not_about_a_row() }} then
                raise;
            end if;
            update {{ source('sqs', 'logins') }}
            set _refused_reason = format(
                '{{ user_logins.schema }}.{{ user_logins.identifier }} refused it: '
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
