{#-
    The ML-facing mart of the booking_outcome model (models/booking_outcome.yaml): one row per booking with the
    features of ml_booking_features (what is known when the booking is made) and, as the label, how the booking
    ended: 'Check-Out', 'Canceled' or 'No-Show' (reservation_status). is_canceled is deliberately absent: it is
    this label folded into two classes. reservation_status_date stays out too: it is known only at the outcome.
-#}

with

features as (

    select * from {{ ref('ml_booking_features') }}

),

outcomes as (

    select
        booking_key,
        reservation_status as booking_outcome
    from {{ ref('stg_hotels__bookings') }}

),

final as (

    select
        -- identity, partition and event time
        features.booking_key,
        features.batch_id,
        features.arrival_date,

        -- features known at booking time
        features.hotel,
        features.lead_time,
        features.arrival_month,
        features.arrival_week_number,
        features.stays_in_weekend_nights,
        features.stays_in_week_nights,
        features.adults,
        features.children,
        features.babies,
        features.meal,
        features.country_code,
        features.market_segment,
        features.distribution_channel,
        features.is_repeated_guest,
        features.previous_cancellations,
        features.previous_bookings_not_canceled,
        features.reserved_room_type,
        features.deposit_type,
        features.agent,
        features.has_company,
        features.customer_type,
        features.adr,
        features.required_car_parking_spaces,
        features.total_of_special_requests,

        -- label
        outcomes.booking_outcome

    from features
    inner join outcomes on features.booking_key = outcomes.booking_key

)

select * from final
