{#- One row per hour of the bike-sharing system: rentals by user type and the weather, for reporting. -#}

with

rentals as (

    select * from {{ ref('stg_bike_sharing__hourly_rentals') }}

),

final as (

    select
        rental_hour_key,
        batch_id,
        rental_hour,
        rental_date,
        hour_of_day,
        day_of_week,
        is_working_day,
        is_holiday,
        weather_situation,
        temperature_norm * 41 as temperature_celsius,
        humidity_norm * 100 as humidity_percent,
        casual_rentals,
        registered_rentals,
        rentals

    from rentals

)

select * from final
