{#- Use the custom schema as is (staging, marts) instead of dbt's default "<target schema>_<custom>",
    so that both warehouses have the same schema names and Flywheel reads marts.<model> everywhere. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
