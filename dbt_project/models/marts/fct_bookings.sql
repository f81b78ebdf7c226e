{#- One row per booking: the facts analysts report on (stay, party, price, outcome). -#}

with

bookings as (

    select * from {{ ref('stg_hotels__bookings') }}

),

final as (

    select
        booking_key,
        batch_id,
        hotel,
        arrival_date,
        cast(date_trunc('month', arrival_date) as date) as arrival_month_start,
        cast(arrival_date - lead_time as date) as booking_date,
        lead_time,
        stays_in_weekend_nights + stays_in_week_nights as nights,
        adults,
        coalesce(children, 0) + babies as children_and_babies,
        meal,
        country_code,
        market_segment,
        distribution_channel,
        customer_type,
        deposit_type,
        reserved_room_type,
        assigned_room_type,
        agent_id,
        company_id,
        is_repeated_guest,
        adr,
        adr * (stays_in_weekend_nights + stays_in_week_nights) as booked_revenue,
        is_canceled,
        reservation_status,
        reservation_status_date

    from bookings

)

select * from final
