{#-
    The ML-facing mart of the hotel_cancellation model (models/hotel_cancellation.yaml): one row per booking with
    what is known when the booking is made, the label and the event time. Columns that leak the label
    (reservation_status, reservation_status_date) or are only known after booking (assigned_room_type,
    booking_changes, days_in_waiting_list) are deliberately absent.
-#}

with

bookings as (

    select * from {{ ref('stg_hotels__bookings') }}

),

final as (

    select
        -- identity, partition and event time
        booking_key,
        batch_id,
        arrival_date,

        -- features known at booking time
        hotel,
        lead_time,
        arrival_month,
        arrival_week_number,
        stays_in_weekend_nights,
        stays_in_week_nights,
        adults,
        children,
        babies,
        meal,
        country_code,
        market_segment,
        distribution_channel,
        is_repeated_guest,
        previous_cancellations,
        previous_bookings_not_canceled,
        reserved_room_type,
        deposit_type,
        coalesce(cast(agent_id as varchar), 'none') as agent,
        case when company_id is null then 0 else 1 end as has_company,
        customer_type,
        adr,
        required_car_parking_spaces,
        total_of_special_requests,

        -- label
        is_canceled

    from bookings

)

select * from final
