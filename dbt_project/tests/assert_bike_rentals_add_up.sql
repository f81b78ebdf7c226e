{#- The source promises cnt = casual + registered; an hour that breaks it is a broken delivery. Returns the
    offending hours (a dbt singular test fails when it returns rows). -#}

select rental_hour_key, casual_rentals, registered_rentals, rentals
from {{ ref('stg_bike_sharing__hourly_rentals') }}
where casual_rentals + registered_rentals <> rentals
