{#-
    One row per delivered booking line, typed and renamed. The dataset has no booking id and 31,994 lines that
    are exact copies of another line (same hotel, dates, party, price, ...). They are kept: nothing in the data
    says they are errors, they look like group bookings entered room by room, and dropping them would change the
    cancellation rate the model must learn (see the model's YAML). Each copy gets its own key from the line's
    content plus its position among identical lines, so the key is stable across re-runs and re-deliveries.
-#}

with

source as (

    select * from {{ source('hotels', 'hotel_bookings') }}

),

typed as (

    select
        _batch_id as batch_id,
        _source_file as source_file,
        cast(_row_number as integer) as source_row_number,
        _loaded_at as loaded_at,

        trim(hotel) as hotel,
        cast(is_canceled as integer) as is_canceled,
        cast(lead_time as integer) as lead_time,
        cast(arrival_date_year as integer) as arrival_year,
        {{ month_number('trim(arrival_date_month)') }} as arrival_month,
        cast(arrival_date_week_number as integer) as arrival_week_number,
        cast(arrival_date_day_of_month as integer) as arrival_day_of_month,
        cast(stays_in_weekend_nights as integer) as stays_in_weekend_nights,
        cast(stays_in_week_nights as integer) as stays_in_week_nights,
        cast(adults as integer) as adults,
        cast({{ null_if_missing('children') }} as integer) as children,
        cast(babies as integer) as babies,
        trim(meal) as meal,
        {{ null_if_missing('country') }} as country_code,
        trim(market_segment) as market_segment,
        trim(distribution_channel) as distribution_channel,
        cast(is_repeated_guest as integer) as is_repeated_guest,
        cast(previous_cancellations as integer) as previous_cancellations,
        cast(previous_bookings_not_canceled as integer) as previous_bookings_not_canceled,
        trim(reserved_room_type) as reserved_room_type,
        trim(assigned_room_type) as assigned_room_type,
        cast(booking_changes as integer) as booking_changes,
        trim(deposit_type) as deposit_type,
        cast({{ null_if_missing('agent') }} as integer) as agent_id,
        cast({{ null_if_missing('company') }} as integer) as company_id,
        cast(days_in_waiting_list as integer) as days_in_waiting_list,
        trim(customer_type) as customer_type,
        cast(adr as double precision) as adr,
        cast(required_car_parking_spaces as integer) as required_car_parking_spaces,
        cast(total_of_special_requests as integer) as total_of_special_requests,
        trim(reservation_status) as reservation_status,
        {{ parse_mdy_date('trim(reservation_status_date)') }} as reservation_status_date,
        -- Personal data (flywheel_pii in the source YAML): the e-mail only as a keyed hash, a stable pseudonymous
        -- guest id; name, phone number and card are not selected.
        {{ pseudonymize('email') }} as guest_key,

        {{ hash_key([
            'hotel', 'is_canceled', 'lead_time', 'arrival_date_year', 'arrival_date_month',
            'arrival_date_week_number', 'arrival_date_day_of_month', 'stays_in_weekend_nights',
            'stays_in_week_nights', 'adults', 'children', 'babies', 'meal', 'country', 'market_segment',
            'distribution_channel', 'is_repeated_guest', 'previous_cancellations',
            'previous_bookings_not_canceled', 'reserved_room_type', 'assigned_room_type', 'booking_changes',
            'deposit_type', 'agent', 'company', 'days_in_waiting_list', 'customer_type', 'adr',
            'required_car_parking_spaces', 'total_of_special_requests', 'reservation_status',
            'reservation_status_date'
        ]) }} as line_content_hash

    from source

),

keyed as (

    select
        *,
        make_date(arrival_year, arrival_month, arrival_day_of_month) as arrival_date,
        row_number() over (
            partition by line_content_hash order by batch_id, source_row_number
        ) as duplicate_index

    from typed

),

final as (

    select
        {{ hash_key(['line_content_hash', 'duplicate_index']) }} as booking_key,
        *

    from keyed

)

select * from final
