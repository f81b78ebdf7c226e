{#- Small cross-warehouse helpers (DuckDB in the embedded mode, Postgres in production). -#}

{#- English month name -> month number, without relying on locale-dependent date parsing. -#}
{% macro month_number(column) -%}
    case {{ column }}
        when 'January' then 1 when 'February' then 2 when 'March' then 3 when 'April' then 4
        when 'May' then 5 when 'June' then 6 when 'July' then 7 when 'August' then 8
        when 'September' then 9 when 'October' then 10 when 'November' then 11 when 'December' then 12
    end
{%- endmacro %}

{#- Raw text -> NULL for the dataset's missing-value markers. -#}
{% macro null_if_missing(column) -%}
    case when trim({{ column }}) in ('', 'NULL', 'NA') then null else trim({{ column }}) end
{%- endmacro %}

{#- M/D/YYYY text -> date. -#}
{% macro parse_mdy_date(column) -%}
    {{ return(adapter.dispatch('parse_mdy_date')(column)) }}
{%- endmacro %}
{% macro default__parse_mdy_date(column) -%}
    to_date({{ column }}, 'MM/DD/YYYY')
{%- endmacro %}
{% macro duckdb__parse_mdy_date(column) -%}
    cast(strptime({{ column }}, '%m/%d/%Y') as date)
{%- endmacro %}

{#- A stable key from a list of expressions: md5 of their text joined by '|' (NULL written as an empty string). -#}
{% macro hash_key(expressions) -%}
    md5({%- for e in expressions %}coalesce(cast({{ e }} as varchar), ''){% if not loop.last %} || '|' || {% endif %}{%- endfor %})
{%- endmacro %}

{#- Personal data -> a keyed SHA-256 (hex) of its trimmed, lower-cased text, NULL when missing. The key is the
    warehouse's own (source flywheel.pii_key), so the hash is stable across runs and cannot be reversed by hashing
    a list of known e-mails without it; the compiled SQL holds a reference to the key, never the key. -#}
{% macro pseudonymize(column) -%}
    {{ return(adapter.dispatch('pseudonymize')(column)) }}
{%- endmacro %}

{% macro default__pseudonymize(column) -%}
    case when {{ null_if_missing(adapter.quote(column)) }} is null then null else encode(sha256(convert_to(
        (select pii_key from {{ source('flywheel', 'pii_key') }}) || lower(trim({{ adapter.quote(column) }})), 'UTF8'
    )), 'hex') end
{%- endmacro %}

{% macro duckdb__pseudonymize(column) -%}
    case when {{ null_if_missing(adapter.quote(column)) }} is null then null else sha256(
        (select pii_key from {{ source('flywheel', 'pii_key') }}) || lower(trim({{ adapter.quote(column) }}))
    ) end
{%- endmacro %}
