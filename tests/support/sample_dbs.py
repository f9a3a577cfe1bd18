"""Business databases built for the tests, shaped like the public sample databases users try
first (a DVD rental shop, a music store), with the traits that mislead a generator:

* ``public`` (rental shop): customers and staff named by first + last name (shared first
  names), a ``payment`` table partitioned by month, glued and suffixed column names
  (``activebool``, ``address2``), per-film attributes (``rental_duration``, ``length``), an enum.
* ``music`` (music store): all-lower-case glued names (``invoicedate``, ``billingcity``,
  ``unitprice``, ``mediatypeid``), playlists and tracks whose names repeat, a self reference
  (``employee.reportsto``), a many-to-many table without its own key (``playlisttrack``), a
  column no glossary knows (``track.bpm``).

``sample_sql(keys=False)`` builds the same data with no declared primary or foreign key (the
case of relationships no schema declares).
"""

from __future__ import annotations

import psycopg2

FIRST = [
    "MARY", "PATRICIA", "LINDA", "BARBARA", "ELIZABETH", "JENNIFER", "MARIA", "SUSAN",
    "JAMES", "JOHN", "ROBERT", "MICHAEL", "WILLIAM", "DAVID", "RICHARD", "CHARLES",
]  # fmt: skip
LAST = ["SMITH", "JOHNSON", "WILLIAMS", "JONES", "BROWN", "DAVIS", "MILLER", "WILSON", "MOORE"]

# The keys, added after the data (only with keys=True).
_KEYS = """
ALTER TABLE country ADD PRIMARY KEY (country_id);
ALTER TABLE city ADD PRIMARY KEY (city_id);
ALTER TABLE city ADD FOREIGN KEY (country_id) REFERENCES country;
ALTER TABLE address ADD PRIMARY KEY (address_id);
ALTER TABLE address ADD FOREIGN KEY (city_id) REFERENCES city;
ALTER TABLE store ADD PRIMARY KEY (store_id);
ALTER TABLE store ADD FOREIGN KEY (address_id) REFERENCES address;
ALTER TABLE staff ADD PRIMARY KEY (staff_id);
ALTER TABLE staff ADD FOREIGN KEY (store_id) REFERENCES store;
ALTER TABLE customer ADD PRIMARY KEY (customer_id);
ALTER TABLE customer ADD FOREIGN KEY (store_id) REFERENCES store;
ALTER TABLE customer ADD FOREIGN KEY (address_id) REFERENCES address;
ALTER TABLE film ADD PRIMARY KEY (film_id);
ALTER TABLE inventory ADD PRIMARY KEY (inventory_id);
ALTER TABLE inventory ADD FOREIGN KEY (film_id) REFERENCES film;
ALTER TABLE inventory ADD FOREIGN KEY (store_id) REFERENCES store;
ALTER TABLE rental ADD PRIMARY KEY (rental_id);
ALTER TABLE rental ADD FOREIGN KEY (inventory_id) REFERENCES inventory;
ALTER TABLE rental ADD FOREIGN KEY (customer_id) REFERENCES customer;
ALTER TABLE rental ADD FOREIGN KEY (staff_id) REFERENCES staff;
ALTER TABLE payment ADD PRIMARY KEY (payment_id, payment_date);
ALTER TABLE payment ADD FOREIGN KEY (customer_id) REFERENCES customer;
ALTER TABLE payment ADD FOREIGN KEY (rental_id) REFERENCES rental;
ALTER TABLE payment ADD FOREIGN KEY (staff_id) REFERENCES staff;
ALTER TABLE music.artist ADD PRIMARY KEY (artistid);
ALTER TABLE music.album ADD PRIMARY KEY (albumid);
ALTER TABLE music.album ADD FOREIGN KEY (artistid) REFERENCES music.artist;
ALTER TABLE music.genre ADD PRIMARY KEY (genreid);
ALTER TABLE music.mediatype ADD PRIMARY KEY (mediatypeid);
ALTER TABLE music.track ADD PRIMARY KEY (trackid);
ALTER TABLE music.track ADD FOREIGN KEY (albumid) REFERENCES music.album;
ALTER TABLE music.track ADD FOREIGN KEY (genreid) REFERENCES music.genre;
ALTER TABLE music.track ADD FOREIGN KEY (mediatypeid) REFERENCES music.mediatype;
ALTER TABLE music.employee ADD PRIMARY KEY (employeeid);
ALTER TABLE music.employee ADD FOREIGN KEY (reportsto) REFERENCES music.employee;
ALTER TABLE music.customer ADD PRIMARY KEY (customerid);
ALTER TABLE music.customer ADD FOREIGN KEY (supportrepid) REFERENCES music.employee;
ALTER TABLE music.invoice ADD PRIMARY KEY (invoiceid);
ALTER TABLE music.invoice ADD FOREIGN KEY (customerid) REFERENCES music.customer;
ALTER TABLE music.invoiceline ADD PRIMARY KEY (invoicelineid);
ALTER TABLE music.invoiceline ADD FOREIGN KEY (invoiceid) REFERENCES music.invoice;
ALTER TABLE music.invoiceline ADD FOREIGN KEY (trackid) REFERENCES music.track;
ALTER TABLE music.playlist ADD PRIMARY KEY (playlistid);
ALTER TABLE music.playlisttrack ADD PRIMARY KEY (playlistid, trackid);
ALTER TABLE music.playlisttrack ADD FOREIGN KEY (playlistid) REFERENCES music.playlist;
ALTER TABLE music.playlisttrack ADD FOREIGN KEY (trackid) REFERENCES music.track;
"""


def declared_relationships() -> set[tuple[str, str, str, str]]:
    """(child table, child column, parent table, parent column) of every foreign key."""
    pks = {}
    for line in _KEYS.strip().splitlines():
        words = line.replace("(", " ").replace(")", " ").rstrip(";").split()
        if "PRIMARY" in words:
            pks[words[2]] = words[words.index("KEY") + 1]
    found = set()
    for line in _KEYS.strip().splitlines():
        words = line.replace("(", " ").replace(")", " ").rstrip(";").split()
        if "FOREIGN" in words:
            child, column, parent = words[2], words[words.index("KEY") + 1], words[-1]
            found.add((child, column, parent, pks[parent]))
    return found


def _names(values: list[str]) -> str:
    return "(ARRAY[" + ", ".join("'" + v + "'" for v in values) + "])"


def sample_sql(keys: bool = True) -> str:
    """The two schemas with their data; with ``keys``, declared primary and foreign keys."""
    first, last = _names(FIRST), _names(LAST)
    sql = f"""
CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE TABLE country (country_id int NOT NULL, country text NOT NULL,
    last_update timestamp NOT NULL DEFAULT '2022-02-15 09:45:25');
CREATE TABLE city (city_id int NOT NULL, city text NOT NULL, country_id int NOT NULL,
    last_update timestamp NOT NULL DEFAULT '2022-02-15 09:45:25');
CREATE TABLE address (address_id int NOT NULL, address text NOT NULL, address2 text,
    district text NOT NULL, city_id int NOT NULL, postal_code text, phone text NOT NULL);
CREATE TABLE store (store_id int NOT NULL, address_id int NOT NULL);
CREATE TABLE staff (staff_id int NOT NULL, first_name text NOT NULL, last_name text NOT NULL,
    email text, store_id int NOT NULL, active boolean NOT NULL, username text NOT NULL);
CREATE TABLE customer (customer_id int NOT NULL, store_id int NOT NULL,
    first_name text NOT NULL, last_name text NOT NULL, email text, address_id int NOT NULL,
    activebool boolean NOT NULL, create_date date NOT NULL, active int);
CREATE TABLE film (film_id int NOT NULL, title text NOT NULL, release_year int,
    rental_duration smallint NOT NULL, rental_rate numeric(4, 2) NOT NULL, length smallint,
    replacement_cost numeric(5, 2) NOT NULL, rating mpaa_rating, special_features text[]);
CREATE TABLE inventory (inventory_id int NOT NULL, film_id int NOT NULL, store_id int NOT NULL);
CREATE TABLE rental (rental_id int NOT NULL, rental_date timestamp NOT NULL,
    inventory_id int NOT NULL, customer_id int NOT NULL, return_date timestamp,
    staff_id int NOT NULL);
CREATE TABLE payment (payment_id int NOT NULL, customer_id int NOT NULL, staff_id int NOT NULL,
    rental_id int NOT NULL, amount numeric(5, 2) NOT NULL, payment_date timestamp NOT NULL)
    PARTITION BY RANGE (payment_date);
CREATE TABLE payment_p2022_01 PARTITION OF payment
    FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
CREATE TABLE payment_p2022_02 PARTITION OF payment
    FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
CREATE TABLE payment_p2022_03 PARTITION OF payment
    FOR VALUES FROM ('2022-03-01') TO ('2022-04-01');

INSERT INTO country SELECT i, (ARRAY['China', 'Japan', 'India', 'Brazil', 'Canada',
    'Germany'])[i] FROM generate_series(1, 6) i;
INSERT INTO city SELECT i, 'City ' || i, 1 + i % 6 FROM generate_series(1, 40) i;
INSERT INTO address SELECT i, i || ' Main Street', CASE WHEN i % 3 = 0 THEN 'Unit ' || i END,
    (ARRAY['Alberta', 'QLD', 'Shandong', 'Texas', 'Kanagawa'])[1 + i % 5], 1 + i % 40,
    lpad((10000 + i * 7)::text, 5, '0'), '555-' || lpad(i::text, 4, '0')
    FROM generate_series(1, 700) i;
INSERT INTO store VALUES (1, 1), (2, 2);
INSERT INTO staff SELECT i, {first}[1 + i % 16], {last}[1 + i % 9], 'staff' || i || '@shop.example',
    1 + i % 2, i <> 4, 'staff' || i FROM generate_series(1, 6) i;
INSERT INTO customer SELECT i, 1 + i % 2, {first}[1 + i % 16], {last}[1 + (i / 16) % 9],
    'c' || i || '@mail.example', 10 + i, i % 25 <> 0, date '2021-01-01' + i % 300,
    CASE WHEN i % 25 = 0 THEN 0 ELSE 1 END FROM generate_series(1, 600) i;
INSERT INTO film SELECT i, 'FILM TITLE ' || i, 2000 + i % 20, 3 + i % 5,
    (ARRAY[0.99, 2.99, 4.99])[1 + i % 3], 46 + (i * 37) % 140, 9.99 + i % 21,
    (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17']::mpaa_rating[])[1 + i % 5],
    ARRAY['Trailers', 'Deleted Scenes'] FROM generate_series(1, 300) i;
INSERT INTO inventory SELECT i, 1 + i % 300, 1 + i % 2 FROM generate_series(1, 1500) i;
INSERT INTO rental SELECT i, timestamp '2022-01-01' + i * interval '37 minutes',
    1 + (i * 7) % 1500, 1 + (i * 13) % 600,
    CASE WHEN i % 50 = 0 THEN NULL ELSE timestamp '2022-01-04' + i * interval '37 minutes' END,
    1 + i % 6 FROM generate_series(1, 3000) i;
INSERT INTO payment SELECT i, 1 + (i * 13) % 600, 1 + i % 6, i, (ARRAY[0.99, 2.99, 4.99, 6.99])[1 + i % 4],
    timestamp '2022-01-01' + i * interval '37 minutes' FROM generate_series(1, 3000) i;

CREATE SCHEMA music;
CREATE TABLE music.artist (artistid int NOT NULL, name text);
CREATE TABLE music.album (albumid int NOT NULL, title text NOT NULL, artistid int NOT NULL);
CREATE TABLE music.genre (genreid int NOT NULL, name text);
CREATE TABLE music.mediatype (mediatypeid int NOT NULL, name text);
CREATE TABLE music.track (trackid int NOT NULL, name text NOT NULL, albumid int,
    mediatypeid int NOT NULL, genreid int, composer text, milliseconds int NOT NULL, bytes int,
    unitprice numeric(10, 2) NOT NULL, bpm int);
CREATE TABLE music.employee (employeeid int NOT NULL, lastname text NOT NULL,
    firstname text NOT NULL, title text, reportsto int, birthdate timestamp,
    hiredate timestamp, city text, country text, email text);
CREATE TABLE music.customer (customerid int NOT NULL, firstname text NOT NULL,
    lastname text NOT NULL, company text, city text, country text, email text NOT NULL,
    supportrepid int);
CREATE TABLE music.invoice (invoiceid int NOT NULL, customerid int NOT NULL,
    invoicedate timestamp NOT NULL, billingcity text, billingcountry text,
    total numeric(10, 2) NOT NULL);
CREATE TABLE music.invoiceline (invoicelineid int NOT NULL, invoiceid int NOT NULL,
    trackid int NOT NULL, unitprice numeric(10, 2) NOT NULL, quantity int NOT NULL);
CREATE TABLE music.playlist (playlistid int NOT NULL, name text);
CREATE TABLE music.playlisttrack (playlistid int NOT NULL, trackid int NOT NULL);

INSERT INTO music.artist SELECT i, 'Artist ' || i FROM generate_series(1, 60) i;
INSERT INTO music.album SELECT i, 'Album ' || i, 1 + i % 60 FROM generate_series(1, 120) i;
INSERT INTO music.genre SELECT i, (ARRAY['Rock', 'Jazz', 'Metal', 'Blues', 'Latin', 'Pop',
    'Classical'])[i] FROM generate_series(1, 7) i;
INSERT INTO music.mediatype SELECT i, (ARRAY['MPEG audio file', 'Protected AAC audio file',
    'AAC audio file'])[i] FROM generate_series(1, 3) i;
INSERT INTO music.track SELECT i, (ARRAY['Intro', 'Outro', 'Home', 'Blue'])[1 + i % 4] || ' ' || (i % 150),
    1 + i % 120, 1 + i % 3, 1 + i % 7, CASE WHEN i % 4 = 0 THEN NULL ELSE 'Composer ' || (i % 30) END,
    150000 + (i * 7919) % 250000, 3000000 + (i * 104729) % 9000000, (ARRAY[0.99, 1.99])[1 + i % 2],
    60 + i % 120 FROM generate_series(1, 900) i;
INSERT INTO music.employee VALUES
    (1, 'Adams', 'Andrew', 'General Manager', NULL, '1962-02-18', '2002-08-14', 'Edmonton',
     'Canada', 'andrew@music.example'),
    (2, 'Edwards', 'Nancy', 'Sales Manager', 1, '1958-12-08', '2002-05-01', 'Calgary', 'Canada',
     'nancy@music.example'),
    (3, 'Peacock', 'Jane', 'Sales Support Agent', 2, '1973-08-29', '2002-04-01', 'Calgary',
     'Canada', 'jane@music.example'),
    (4, 'Park', 'Margaret', 'Sales Support Agent', 2, '1947-09-19', '2003-05-03', 'Calgary',
     'Canada', 'margaret@music.example'),
    (5, 'Johnson', 'Steve', 'Sales Support Agent', 2, '1965-03-03', '2003-10-17', 'Calgary',
     'Canada', 'steve@music.example'),
    (6, 'Mitchell', 'Michael', 'IT Manager', 1, '1973-07-01', '2003-10-17', 'Calgary', 'Canada',
     'michael@music.example');
INSERT INTO music.customer SELECT i, {first}[1 + i % 16], {last}[1 + (i / 16) % 9],
    CASE WHEN i % 5 = 0 THEN 'Company ' || i END,
    (ARRAY['Paris', 'Berlin', 'Prague', 'Toronto', 'São Paulo', 'Oslo', 'London', 'Delhi'])[1 + i % 8],
    (ARRAY['France', 'Germany', 'Czech Republic', 'Canada', 'Brazil', 'Norway', 'United Kingdom',
           'India'])[1 + i % 8], 'customer' || i || '@mail.example', 3 + i % 3
    FROM generate_series(1, 59) i;
INSERT INTO music.invoice SELECT i, 1 + i % 59, timestamp '2021-01-01' + i * interval '2 days',
    c.city, c.country, 0
    FROM generate_series(1, 412) i JOIN music.customer c ON c.customerid = 1 + i % 59;
INSERT INTO music.invoiceline SELECT i, 1 + i % 412, 1 + (i * 17) % 900, (ARRAY[0.99, 1.99])[1 + i % 2], 1
    FROM generate_series(1, 2240) i;
UPDATE music.invoice v SET total = s.total FROM (SELECT invoiceid, sum(unitprice * quantity) AS total
    FROM music.invoiceline GROUP BY invoiceid) s WHERE s.invoiceid = v.invoiceid;
INSERT INTO music.playlist SELECT i, (ARRAY['Music', 'Movies', 'TV Shows', 'Audiobooks', '90s Music',
    'Music', 'Movies', 'TV Shows', 'Grunge', 'Classical', 'Music Videos'])[i] FROM generate_series(1, 11) i;
INSERT INTO music.playlisttrack SELECT DISTINCT 1 + (i * 3) % 11, 1 + (i * 11) % 900
    FROM generate_series(1, 3000) i;
"""
    if keys:
        sql += _KEYS
    return sql + "\nANALYZE;\n"


# Every table of both schemas, partitions included, as a user listing them all would name them.
ALL_TABLES = [
    "public.country", "public.city", "public.address", "public.store", "public.staff",
    "public.customer", "public.film", "public.inventory", "public.rental", "public.payment",
    "public.payment_p2022_01", "public.payment_p2022_02", "public.payment_p2022_03",
    "music.artist", "music.album", "music.genre", "music.mediatype", "music.track",
    "music.employee", "music.customer", "music.invoice", "music.invoiceline", "music.playlist",
    "music.playlisttrack",
]  # fmt: skip
PARTITIONS = {"payment_p2022_01", "payment_p2022_02", "payment_p2022_03"}


def build(dsn: str, keys: bool = True) -> None:
    """Create both schemas with their data in the (empty) database ``dsn``."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sample_sql(keys))
    finally:
        conn.close()


# A database that declares no key at all, in the naming styles relationships hide behind.
LOOSE_SQL = """
CREATE TABLE users (id int NOT NULL, name text NOT NULL, city text, email text);
CREATE TABLE orders (id int NOT NULL, user_id int, total numeric(10, 2), ordered_at date,
    batch_no text);
CREATE TABLE customer (custid int NOT NULL, custname text NOT NULL, city text);
CREATE TABLE invoice (invid int NOT NULL, custid int NOT NULL, amount numeric(10, 2),
    issued_on date);
CREATE TABLE sbcustomer (sbcustid text NOT NULL, sbcustname text NOT NULL, sbcustcity text);
CREATE TABLE sbtransaction (sbtxid int NOT NULL, sbtxcustid text NOT NULL,
    sbtxamount numeric(12, 2), sbtxdatetime timestamp);
CREATE TABLE airport (airport_code text NOT NULL, airport_name text NOT NULL, city text);
CREATE TABLE flight (flight_no text NOT NULL, from_airport text NOT NULL,
    to_airport text NOT NULL, departs_at timestamp);
CREATE TABLE state (state_name text NOT NULL, population int, area numeric);
CREATE TABLE city (city_name text NOT NULL, state_name text NOT NULL, population int);
CREATE TABLE staff (staff_id int NOT NULL, full_name text NOT NULL, store_id int,
    manager_id int);
CREATE TABLE store (store_id int NOT NULL, manager_staff_id int NOT NULL, city text);
CREATE TABLE warehouse (id int NOT NULL, city text);
CREATE TABLE shipment (id int NOT NULL, order_id int NOT NULL, warehouse_id int NOT NULL,
    batch_no text, shipped_on date);

INSERT INTO users SELECT i, 'User ' || (i % 150), (ARRAY['Paris', 'Oslo', 'Lima'])[1 + i % 3],
    'u' || i || '@mail.example' FROM generate_series(1, 300) i;
INSERT INTO orders SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + (i * 7) % 300 END,
    (i % 50) * 3.5, date '2024-01-01' + i % 200, 'B' || (i % 40) FROM generate_series(1, 2000) i;
INSERT INTO customer SELECT i, 'Customer ' || i, (ARRAY['Paris', 'Oslo'])[1 + i % 2]
    FROM generate_series(1, 120) i;
INSERT INTO invoice SELECT i, 1 + (i * 11) % 120, (i % 70) * 2.25, date '2024-02-01' + i % 90
    FROM generate_series(1, 900) i;
INSERT INTO sbcustomer SELECT 'C' || lpad(i::text, 4, '0'), 'Client ' || i,
    (ARRAY['Boston', 'Austin'])[1 + i % 2] FROM generate_series(1, 80) i;
INSERT INTO sbtransaction SELECT i, 'C' || lpad((1 + (i * 13) % 80)::text, 4, '0'), i * 10.5,
    timestamp '2024-03-01' + i * interval '5 hours' FROM generate_series(1, 600) i;
INSERT INTO airport SELECT code, 'Airport ' || code, 'City ' || code
    FROM unnest(ARRAY['PEK', 'PVG', 'CAN', 'SZX', 'CTU', 'KMG', 'XIY', 'HGH']) code;
INSERT INTO flight SELECT 'F' || i, (ARRAY['PEK', 'PVG', 'CAN', 'SZX', 'CTU', 'KMG', 'XIY', 'HGH'])[1 + i % 8],
    (ARRAY['PEK', 'PVG', 'CAN', 'SZX', 'CTU', 'KMG', 'XIY', 'HGH'])[1 + (i * 3 + 1) % 8],
    timestamp '2024-05-01' + i * interval '3 hours' FROM generate_series(1, 400) i;
INSERT INTO state SELECT s, 1000000 + length(s) * 1000, length(s) * 10.5
    FROM unnest(ARRAY['Texas', 'Ohio', 'Utah', 'Iowa', 'Maine', 'Idaho']) s;
INSERT INTO city SELECT 'Town ' || i, (ARRAY['Texas', 'Ohio', 'Utah', 'Iowa', 'Maine', 'Idaho'])[1 + i % 6],
    10000 + i * 37 FROM generate_series(1, 90) i;
INSERT INTO store VALUES (1, 1, 'Paris'), (2, 3, 'Oslo'), (3, 5, 'Lima');
INSERT INTO staff SELECT i, 'Staff ' || i, 1 + i % 3, CASE WHEN i > 3 THEN 1 + i % 3 END
    FROM generate_series(1, 30) i;
INSERT INTO warehouse SELECT i, (ARRAY['Paris', 'Oslo'])[1 + i % 2] FROM generate_series(1, 10) i;
INSERT INTO shipment SELECT i, 1 + (i * 3) % 2000, 1 + i % 20, 'B' || (i % 40),
    date '2024-02-01' + i % 100 FROM generate_series(1, 1500) i;
ANALYZE;
"""
LOOSE_TABLES = [
    "public.users", "public.orders", "public.customer", "public.invoice", "public.sbcustomer",
    "public.sbtransaction", "public.airport", "public.flight", "public.state", "public.city",
    "public.staff", "public.store", "public.warehouse", "public.shipment",
]  # fmt: skip
# (child, column, parent, parent column) of every relationship the loose database hides.
LOOSE_RELATIONSHIPS = {
    ("orders", "user_id", "users", "id"),  # user_id → users.id (plural table)
    ("invoice", "custid", "customer", "custid"),  # custid → customer.custid
    ("sbtransaction", "sbtxcustid", "sbcustomer", "sbcustid"),  # prefixed names
    ("flight", "from_airport", "airport", "airport_code"),  # the column names the table
    ("flight", "to_airport", "airport", "airport_code"),
    ("city", "state_name", "state", "state_name"),  # text key, same name
    ("staff", "store_id", "store", "store_id"),
    ("staff", "manager_id", "staff", "staff_id"),  # self reference
    ("store", "manager_staff_id", "staff", "staff_id"),  # not a self reference
    ("shipment", "order_id", "orders", "id"),
}
# What must not be kept, and why: shipment.warehouse_id holds 1..20 but warehouses are 1..10
# (half the values match); batch_no is on orders and shipments but a key of neither; city is
# on users, customer, airport, store and warehouse and a key of none.
LOOSE_NOT_RELATIONSHIPS = {("shipment", "warehouse_id"), ("shipment", "batch_no"),
                           ("orders", "batch_no")}  # fmt: skip


def build_loose(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(LOOSE_SQL)
    finally:
        conn.close()
