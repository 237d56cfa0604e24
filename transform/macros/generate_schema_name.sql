{#- A model's `schema` config is the schema itself, not a suffix of the target's: user_logins
    lives in var('user_logins_schema') (public), every other model in the target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
