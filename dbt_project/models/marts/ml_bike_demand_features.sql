{#-
    The ML-facing mart of the bike_demand model (models/bike_demand.yaml): one row per hour with what is known
    before the hour starts (calendar, weather forecast, the rentals of the same hour a day and a week earlier),
    the label `rentals` and the event time `rental_hour`. casual_rentals and registered_rentals of the hour itself
    are deliberately absent: they add up to the label. The earlier counts carry the demand level, which grows as
    the network does: a tree model cannot extrapolate a trend from a date, but it can follow last week's level.
-#}

with

hours as (

    select * from {{ ref('stg_bike_sharing__hourly_rentals') }}

),

final as (

    select
        -- identity, partition and event time
        current_hour.rental_hour_key,
        current_hour.batch_id,
        current_hour.rental_hour,

        -- calendar
        current_hour.hour_of_day,
        current_hour.day_of_week,
        current_hour.month_of_year,
        current_hour.is_working_day,
        current_hour.is_holiday,
        case current_hour.season_number
            when 1 then 'spring' when 2 then 'summer' when 3 then 'fall' when 4 then 'winter'
        end as season,

        -- weather
        case current_hour.weather_situation
            when 1 then 'clear' when 2 then 'mist' when 3 then 'light_precipitation' when 4 then 'heavy_precipitation'
        end as weather,
        current_hour.temperature_norm,
        current_hour.feels_like_temperature_norm,
        current_hour.humidity_norm,
        current_hour.wind_speed_norm,

        -- the demand level: the same hour a day and a week before (null where that hour is not in the data)
        previous_day.rentals as rentals_same_hour_previous_day,
        previous_week.rentals as rentals_same_hour_previous_week,

        -- label
        current_hour.rentals

    from hours as current_hour
    left join hours as previous_day
        on previous_day.rental_hour = current_hour.rental_hour - interval '1 day'
    left join hours as previous_week
        on previous_week.rental_hour = current_hour.rental_hour - interval '7 days'

)

select * from final
