{#-
    The ML-facing mart of the bike_demand model (models/bike_demand.yaml): one row per hour with what is known
    before the hour starts (calendar, weather forecast), the label `rentals` and the event time `rental_hour`.
    casual_rentals and registered_rentals are deliberately absent: they add up to the label.
-#}

with

rentals as (

    select * from {{ ref('stg_bike_sharing__hourly_rentals') }}

),

final as (

    select
        -- identity, partition and event time
        rental_hour_key,
        batch_id,
        rental_hour,

        -- calendar
        hour_of_day,
        day_of_week,
        month_of_year,
        is_working_day,
        is_holiday,
        case season_number
            when 1 then 'spring' when 2 then 'summer' when 3 then 'fall' when 4 then 'winter'
        end as season,
        -- the system's age: demand grows as the network does (a trend no calendar column carries)
        rental_date - cast('2011-01-01' as date) as days_since_launch,

        -- weather
        case weather_situation
            when 1 then 'clear' when 2 then 'mist' when 3 then 'light_precipitation' when 4 then 'heavy_precipitation'
        end as weather,
        temperature_norm,
        feels_like_temperature_norm,
        humidity_norm,
        wind_speed_norm,

        -- label
        rentals

    from rentals

)

select * from final
