{#-
    One row per hour of the bike-sharing system, typed and renamed. The hour (date + hour of day) is the natural
    key: the published file has at most one line per hour (hours without any rental are simply absent). `instant`
    is a row number of the published file, not an identity, so it stops here. `casual` and `registered` are kept
    for reporting (fct_hourly_rentals) but never reach the ML mart: they add up to the label `cnt`.
    A weather reading may be blank (the landing contract lets a blank through as missing): it becomes NULL here,
    and the mart's expectation suite decides whether a batch with NULLs may train.
-#}

with

source as (

    select * from {{ source('bike_sharing', 'bike_hourly_rentals') }}

),

typed as (

    select
        _batch_id as batch_id,
        _source_file as source_file,
        cast(_row_number as integer) as source_row_number,
        _loaded_at as loaded_at,

        trim(dteday) || 'T' || lpad(trim(hr), 2, '0') as rental_hour_key,
        cast(trim(dteday) as date) as rental_date,
        cast(hr as integer) as hour_of_day,
        cast(trim(dteday) || ' ' || lpad(trim(hr), 2, '0') || ':00:00' as timestamp) as rental_hour,
        cast(season as integer) as season_number,
        cast(mnth as integer) as month_of_year,
        cast(holiday as integer) as is_holiday,
        cast(weekday as integer) as day_of_week,
        cast(workingday as integer) as is_working_day,
        cast(weathersit as integer) as weather_situation,
        cast({{ null_if_missing('temp') }} as double precision) as temperature_norm,
        cast({{ null_if_missing('atemp') }} as double precision) as feels_like_temperature_norm,
        cast({{ null_if_missing('hum') }} as double precision) as humidity_norm,
        cast({{ null_if_missing('windspeed') }} as double precision) as wind_speed_norm,
        cast(casual as integer) as casual_rentals,
        cast(registered as integer) as registered_rentals,
        cast(cnt as integer) as rentals

    from source


)

select * from typed
