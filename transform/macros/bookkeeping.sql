{#- Post-hook, in the model's transaction: the staging rows of `verdict` that `done` now
    holds (delivered or quarantined) leave dbt's pending set. Driven by the partial index on
    _transformed_at is null, then (offset 0 keeps it a per-row probe, never a hash of the
    whole table) the unique message_id index of `done`. -#}
{% macro mark_transformed(verdict, done, done_when='true') -%}
    update {{ source('sqs', 'logins') }} as staged
    set _transformed_at = now()
    where staged._transformed_at is null
      and staged.{{ verdict }}
      and exists (
          select 1 from {{ done }} as done
          where done.message_id = staged.message_id and {{ done_when }}
          offset 0
      )
{%- endmacro %}

{#- An index on this model's table, created once (tables built before it existed too);
    partial when `where` is given. -#}
{% macro ensure_index(column, unique=false, where=none) -%}
    create {{ 'unique' if unique }} index if not exists
    {{ this.identifier }}_{{ column }}{{ '_pending' if where }}
    on {{ this }} ({{ column }}) {{ 'where ' ~ where if where }}
{%- endmacro %}

{#- Post-hook of login_deliveries: forget deliveries older than var('delivery_retention_days')
    (SQS keeps a message at most 14 days, so none of them can come back). A row not
    delivered yet (delivered_at null) is never forgotten. -#}
{% macro prune_deliveries() -%}
    {{ ensure_index('delivered_at') }};
    delete from {{ this }}
    where delivered_at < now() - make_interval(days => {{ var('delivery_retention_days') }})
{%- endmacro %}

{#- Post-hook of quarantined_messages: a refused login keeps the reason of its last try
    (the pending set is small: driven by the partial index on _transformed_at is null). -#}
{% macro update_refusals() -%}
    update {{ this }} as quarantined
    set rejection_reason = staged._refused_reason
    from {{ source('sqs', 'logins') }} as staged
    where staged._transformed_at is null
      and staged._refused_reason is not null
      and quarantined.message_id = staged.message_id
      and quarantined.rejection_reason is distinct from staged._refused_reason
{%- endmacro %}

{#- on-run-start: dbt's bookkeeping columns on the staging table, which target-postgres never
    writes, so they survive every upsert (sqs-ack adds its own, _ack_*). _transformed_at: set
    in the transaction that delivers or quarantines the row; NULL = pending for dbt (partial
    index). _refused_reason: why user_logins refused the valid login on its last try. The
    catalog is read first, so a prepared table takes no lock. -#}
{% macro add_bookkeeping() -%}
    {%- set logins = source('sqs', 'logins').include(database=false) -%}
do $bookkeeping$
begin
    if to_regclass('{{ logins }}') is null then
        return;  -- nothing loaded yet
    end if;
    if not exists (
        select from pg_attribute
        where attrelid = '{{ logins }}'::regclass and attname = '_refused_reason'
            and not attisdropped
    ) then
        alter table {{ logins }}
            add column if not exists _transformed_at timestamptz,
            add column if not exists _refused_reason text;
    end if;
    if to_regclass('{{ adapter.quote(logins.schema) }}.logins_transform_pending') is null then
        create index if not exists logins_transform_pending on {{ logins }} (message_id)
        where _transformed_at is null;
    end if;
exception when duplicate_table or unique_violation then
    null;  -- a concurrent run added them first
end
$bookkeeping$
{%- endmacro %}
