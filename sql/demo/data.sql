-- Deterministic demo data for sql/demo/schema.sql (highway service areas, Jiangxi, 2024-01..06).
-- No random(): every "random" value is derived from md5 of a stable key, so two loads give
-- identical rows. Helpers live in pg_temp and disappear when the loading session ends.

-- Pseudo-random number in [0, 1) derived from a text key.
CREATE OR REPLACE FUNCTION pg_temp.rnd(key text) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT ('x' || substr(md5(key), 1, 8))::bit(32)::bigint::double precision / 4294967296 $$;

-- Slice i (0..5) of an md5 hex digest as a number in [0, 1): several values from one hash.
CREATE OR REPLACE FUNCTION pg_temp.hx(h text, i integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT ('x' || substr(h, 1 + 5 * i, 5))::bit(20)::integer::double precision / 1048576 $$;

-- ---------------------------------------------------------------------------------------------
-- Reference data
-- ---------------------------------------------------------------------------------------------
INSERT INTO operating_company
    (company_code, company_name, region, legal_representative, registered_capital,
     established_date, contact_phone)
VALUES
    ('JXJT-FWQ', '江西交投服务区管理有限公司', '赣中', '陈建国', 500000000.00, '2008-03-18',
     '0791-86210001'),
    ('GY-FWQ', '江西赣粤高速服务区经营有限公司', '赣北', '刘志强', 200000000.00, '2004-07-01',
     '0791-86520018'),
    ('GN-FWQ', '赣南高速服务区运营有限公司', '赣南', '钟海林', 120000000.00, '2011-05-20',
     '0797-8123456'),
    ('GD-FWQ', '江西赣东高速服务区管理有限公司', '赣东', '吴立新', 80000000.00, '2012-09-09',
     '0793-8231177'),
    ('JJ-FWQ', '九江长江服务区商贸有限公司', '赣北', '周文华', 50000000.00, '2015-04-16', NULL),
    ('GX-FWQ', '萍乡赣西服务区运营有限公司', '赣西', '李红梅', 60000000.00, '2013-11-28',
     '0799-6832210');

INSERT INTO highway_route
    (route_code, route_name, start_city, end_city, length_km, lanes, opened_year)
VALUES
    ('G70', '福银高速', '福州', '银川', 2485.0, 4, 2004),
    ('G60', '沪昆高速', '上海', '昆明', 2730.0, 6, 2002),
    ('G45', '大广高速', '大庆', '广州', 3550.0, 4, 2006),
    ('G35', '济广高速', '济南', '广州', 1931.5, 4, 2008),
    ('G56', '杭瑞高速', '杭州', '瑞丽', 3404.0, 4, 2009),
    ('G72', '泉南高速', '泉州', '南宁', 1635.0, 4, 2011),
    ('G76', '厦蓉高速', '厦门', '成都', 2295.0, 4, 2010),
    ('G1517', '莆炎高速', '莆田', '炎陵', 585.5, 4, 2019);

INSERT INTO service_area
    (area_code, area_name, area_type, company_id, route_id, city, stake_no, status, opened_date,
     land_area_sqm, parking_spaces, has_charging_station, longitude, latitude)
SELECT v.code, v.name, v.kind, c.company_id, r.route_id, v.city,
       'K' || (20 + floor(1400 * pg_temp.rnd('stake/' || v.code)))::int
           || '+' || lpad((100 * floor(10 * pg_temp.rnd('stake+/' || v.code)))::int::text, 3, '0'),
       coalesce(v.status, 'operating')::area_status, v.opened::date,
       CASE WHEN v.kind = '服务区'
            THEN round((60000 + 90000 * pg_temp.rnd('land/' || v.code))::numeric, 2)
            ELSE round((15000 + 15000 * pg_temp.rnd('land/' || v.code))::numeric, 2) END,
       CASE WHEN v.kind = '服务区'
            THEN 180 + floor(320 * pg_temp.rnd('park/' || v.code))::int
            ELSE 40 + floor(60 * pg_temp.rnd('park/' || v.code))::int END,
       pg_temp.rnd('ev/' || v.code) < CASE WHEN v.kind = '服务区' THEN 0.75 ELSE 0.3 END,
       v.lon, v.lat
FROM (VALUES  -- status NULL = operating
    ('FWQ001', '庐山服务区', '服务区', 'G70', 'GY-FWQ', '九江', NULL, '2004-09-28', 115.9823, 29.5517),
    ('FWQ002', '南昌北服务区', '服务区', 'G70', 'JXJT-FWQ', '南昌', NULL, '2005-12-20', 115.8791, 28.7824),
    ('FWQ003', '永修服务区', '服务区', 'G70', 'GY-FWQ', '九江', NULL, '2004-09-28', 115.8032, 29.0318),
    ('FWQ004', '共青城服务区', '服务区', 'G70', 'GY-FWQ', '九江', NULL, '2006-06-30', 115.8046, 29.2475),
    ('FWQ005', '九江服务区', '服务区', 'G56', 'JJ-FWQ', '九江', NULL, '2009-12-26', 116.0019, 29.7052),
    ('FWQ006', '湖口服务区', '服务区', 'G56', 'JJ-FWQ', '九江', NULL, '2009-12-26', 116.2511, 29.7338),
    ('FWQ007', '瑞昌服务区', '服务区', 'G56', 'JJ-FWQ', '九江', 'renovating', '2010-10-18', 115.669, 29.677),
    ('FWQ008', '景德镇服务区', '服务区', 'G56', 'GD-FWQ', '景德镇', NULL, '2011-01-08', 117.2048, 29.2969),
    ('FWQ009', '婺源服务区', '服务区', 'G56', 'GD-FWQ', '上饶', NULL, '2011-01-08', 117.8613, 29.2482),
    ('FWQ010', '上饶服务区', '服务区', 'G60', 'GD-FWQ', '上饶', NULL, '2002-12-28', 117.9433, 28.4547),
    ('FWQ011', '弋阳服务区', '服务区', 'G60', 'GD-FWQ', '上饶', NULL, '2002-12-28', 117.4492, 28.4021),
    ('FWQ012', '鹰潭服务区', '服务区', 'G60', 'GD-FWQ', '鹰潭', NULL, '2002-12-28', 117.0691, 28.2604),
    ('FWQ013', '进贤服务区', '服务区', 'G60', 'JXJT-FWQ', '南昌', NULL, '2003-09-30', 116.2412, 28.3766),
    ('FWQ014', '樟树服务区', '服务区', 'G60', 'JXJT-FWQ', '宜春', NULL, '2003-09-30', 115.5468, 28.0553),
    ('FWQ015', '新余服务区', '服务区', 'G60', 'JXJT-FWQ', '新余', NULL, '2003-09-30', 114.9306, 27.8174),
    ('FWQ016', '宜春服务区', '服务区', 'G60', 'GX-FWQ', '宜春', NULL, '2003-09-30', 114.4163, 27.8153),
    ('FWQ017', '萍乡服务区', '服务区', 'G60', 'GX-FWQ', '萍乡', NULL, '2003-09-30', 113.8546, 27.6229),
    ('FWQ018', '抚州服务区', '服务区', 'G70', 'JXJT-FWQ', '抚州', NULL, '2005-12-20', 116.3581, 27.9487),
    ('FWQ019', '南城服务区', '服务区', 'G35', 'JXJT-FWQ', '抚州', 'closed', '2008-11-26', 116.6372, 27.5551),
    ('FWQ020', '吉安服务区', '服务区', 'G1517', 'JXJT-FWQ', '吉安', NULL, '2019-09-28', 114.9864, 27.1117),
    ('FWQ021', '井冈山服务区', '服务区', 'G1517', 'JXJT-FWQ', '吉安', NULL, '2019-09-28', 114.2893, 26.7481),
    ('FWQ022', '泰和服务区', '服务区', 'G45', 'GN-FWQ', '吉安', 'renovating', '2006-12-26', 114.908, 26.790),
    ('FWQ023', '赣州服务区', '服务区', 'G45', 'GN-FWQ', '赣州', NULL, '2006-12-26', 114.9334, 25.8311),
    ('FWQ024', '南康服务区', '服务区', 'G76', 'GN-FWQ', '赣州', NULL, '2010-12-30', 114.7652, 25.6611),
    ('FWQ025', '瑞金服务区', '服务区', 'G76', 'GN-FWQ', '赣州', NULL, '2010-12-30', 116.0271, 25.8857),
    ('TCQ001', '梅岭停车区', '停车区', 'G70', 'JXJT-FWQ', '南昌', NULL, '2012-05-18', 115.7319, 28.8047),
    ('TCQ002', '温泉停车区', '停车区', 'G70', 'GY-FWQ', '九江', NULL, '2013-08-08', 115.9034, 29.4012),
    ('TCQ003', '三清山停车区', '停车区', 'G60', 'GD-FWQ', '上饶', NULL, '2014-10-01', 118.0478, 28.6975),
    ('TCQ004', '武功山停车区', '停车区', 'G60', 'GX-FWQ', '萍乡', NULL, '2016-01-20', 114.1522, 27.4986),
    ('TCQ005', '石城停车区', '停车区', 'G72', 'GN-FWQ', '赣州', NULL, '2017-06-16', 116.3467, 26.3261)
) AS v(code, name, kind, route, company, city, status, opened, lon, lat)
JOIN operating_company c ON c.company_code = v.company
JOIN highway_route r ON r.route_code = v.route
ORDER BY v.code;

-- Parking areas (停车区) are managed by a nearby service area.
UPDATE service_area AS child
SET parent_area_id = parent.area_id
FROM (VALUES ('TCQ001', 'FWQ002'), ('TCQ002', 'FWQ001'), ('TCQ003', 'FWQ010'),
             ('TCQ004', 'FWQ017'), ('TCQ005', 'FWQ025')) AS m(child_code, parent_code)
JOIN service_area AS parent ON parent.area_code = m.parent_code
WHERE child.area_code = m.child_code;

INSERT INTO business_type (type_code, type_name, category, avg_ticket_price)
VALUES
    ('FOOD_FAST', '中式快餐', '餐饮', 32.00),
    ('FOOD_LOCAL', '地方特色小吃', '餐饮', 24.00),
    ('FOOD_WESTERN', '西式快餐', '餐饮', 38.00),
    ('DRINK', '咖啡茶饮', '餐饮', 18.00),
    ('STORE', '便利店', '零售', 22.00),
    ('SPECIALTY', '特产超市', '零售', 68.00),
    ('FUEL', '加油站', '能源', 260.00),
    ('EV_CHARGE', '充电站', '能源', 55.00),
    ('CAR_REPAIR', '汽车维修', '汽车服务', 180.00);

-- ---------------------------------------------------------------------------------------------
-- Generation profiles (temporary tables, gone after the loading session)
-- ---------------------------------------------------------------------------------------------
-- Per business type: floor area range, base daily revenue, payment method shares, rent and
-- revenue share ranges.
CREATE TEMP TABLE demo_type_profile
    (type_code, min_sqm, max_sqm, base_revenue, wechat, alipay, cash, bank_card,
     rent_lo, rent_hi, share_lo, share_hi) AS
VALUES
    ('FOOD_FAST', 150, 400, 9000, 0.56, 0.30, 0.14, 0.00, 60, 110, 8, 16),
    ('FOOD_LOCAL', 60, 180, 5000, 0.55, 0.28, 0.17, 0.00, 50, 90, 8, 14),
    ('FOOD_WESTERN', 200, 450, 12000, 0.60, 0.33, 0.07, 0.00, 70, 120, 10, 18),
    ('DRINK', 20, 80, 3000, 0.62, 0.34, 0.04, 0.00, 90, 150, 10, 18),
    ('STORE', 120, 300, 7000, 0.52, 0.30, 0.10, 0.08, 50, 100, 6, 12),
    ('SPECIALTY', 80, 220, 4000, 0.45, 0.27, 0.08, 0.20, 40, 90, 8, 15),
    ('FUEL', 600, 1200, 60000, 0.42, 0.25, 0.05, 0.28, 20, 40, 2, 5),
    ('EV_CHARGE', 300, 800, 3500, 0.65, 0.35, 0.00, 0.00, 10, 25, 3, 8),
    ('CAR_REPAIR', 150, 400, 1500, 0.40, 0.25, 0.15, 0.20, 30, 60, 5, 10);

CREATE TEMP TABLE demo_brand (type_code, idx, brand_name, tenant_name) AS
VALUES
    ('FOOD_FAST', 1, '老乡鸡', '江西鸿福餐饮管理有限公司'),
    ('FOOD_FAST', 2, '乡村基', '南昌味道餐饮有限公司'),
    ('FOOD_FAST', 3, '真功夫', '江西真味餐饮连锁有限公司'),
    ('FOOD_FAST', 4, '赣味坊', '江西交投餐饮服务有限公司'),
    ('FOOD_LOCAL', 1, '南昌拌粉', '南昌洪都小吃有限公司'),
    ('FOOD_LOCAL', 2, '瓦罐煨汤', '江西瓦罐香餐饮有限公司'),
    ('FOOD_LOCAL', 3, '赣南客家小吃', '赣州客家味餐饮有限公司'),
    ('FOOD_LOCAL', 4, '井冈山红米饭', '吉安红土地餐饮有限公司'),
    ('FOOD_WESTERN', 1, '肯德基', '江西百味西餐管理有限公司'),
    ('FOOD_WESTERN', 2, '麦当劳', '南昌金拱餐饮有限公司'),
    ('FOOD_WESTERN', 3, '汉堡王', '江西皇堡餐饮有限公司'),
    ('DRINK', 1, '瑞幸咖啡', '南昌瑞达饮品有限公司'),
    ('DRINK', 2, '蜜雪冰城', '江西雪城饮品有限公司'),
    ('DRINK', 3, '古茗', '九江古韵茶饮有限公司'),
    ('STORE', 1, '易捷便利店', '江西易捷商贸有限公司'),
    ('STORE', 2, '昆仑好客', '江西昆仑商贸有限公司'),
    ('STORE', 3, '赣通便利店', '江西赣通商贸有限公司'),
    ('SPECIALTY', 1, '赣品特产', '江西赣品农业发展有限公司'),
    ('SPECIALTY', 2, '庐山云雾茶', '九江云雾茶业有限公司'),
    ('SPECIALTY', 3, '景德镇陶瓷馆', '景德镇瓷韵文化有限公司'),
    ('SPECIALTY', 4, '婺源特产馆', '婺源乡里农产品有限公司'),
    ('FUEL', 1, '中国石化', '中国石化销售股份有限公司江西石油分公司'),
    ('FUEL', 2, '中国石油', '中国石油天然气股份有限公司江西销售分公司'),
    ('FUEL', 3, '赣通能源', '江西赣通能源有限公司'),
    ('EV_CHARGE', 1, '国网充电', '国网江西电动汽车服务有限公司'),
    ('EV_CHARGE', 2, '特来电', '江西特来电新能源有限公司'),
    ('EV_CHARGE', 3, '星星充电', '江西星星充电科技有限公司'),
    ('CAR_REPAIR', 1, '途虎养车', '南昌途安汽车服务有限公司'),
    ('CAR_REPAIR', 2, '赣通汽修', '江西赣通汽车服务有限公司');

-- Per area: traffic level (drives both vehicle flow and revenue) and the last day with
-- business for areas that closed or went into renovation during the period.
CREATE TEMP TABLE demo_area_profile AS
SELECT area_id, area_code, area_type, status, opened_date, has_charging_station,
       CASE WHEN area_type = '服务区' THEN 0.6 + 0.9 * pg_temp.rnd('traffic/' || area_code)
            ELSE 0.3 + 0.15 * pg_temp.rnd('traffic/' || area_code) END AS traffic_f,
       CASE status WHEN 'closed' THEN date '2024-03-31'
                   WHEN 'renovating' THEN date '2024-05-14' END AS last_full_day,
       CASE WHEN area_type = '服务区' THEN 5 + floor(4 * pg_temp.rnd('stalls/' || area_code))::int
            ELSE 2 END AS stall_count,
       replace(replace(area_name, '服务区', ''), '停车区', '') AS short_name
FROM service_area;

-- 2024-01-01 .. 2024-06-30 with weekday and holiday factors (春运, 春节, 清明, 劳动节, 端午).
-- Small cars use the toll-free holidays heavily; trucks stay off the road around 春节.
CREATE TEMP TABLE demo_calendar AS
SELECT g.d::date AS d,
       g.d::date - date '2024-01-01' AS day_no,
       (CASE extract(isodow FROM g.d) WHEN 5 THEN 1.10 WHEN 6 THEN 1.20 WHEN 7 THEN 1.15
                                      ELSE 1.00 END)
           * (1 + 0.0004 * (g.d::date - date '2024-01-01')) AS base_f,
       CASE WHEN g.d BETWEEN '2024-02-10' AND '2024-02-17' THEN 1.90
            WHEN g.d BETWEEN '2024-01-26' AND '2024-03-05' THEN 1.25
            WHEN g.d BETWEEN '2024-04-04' AND '2024-04-06' THEN 1.50
            WHEN g.d BETWEEN '2024-05-01' AND '2024-05-05' THEN 1.80
            WHEN g.d BETWEEN '2024-06-08' AND '2024-06-10' THEN 1.40
            ELSE 1.00 END AS holiday_f,
       CASE WHEN g.d BETWEEN '2024-02-10' AND '2024-02-17' THEN 2.30
            WHEN g.d BETWEEN '2024-01-26' AND '2024-03-05' THEN 1.30
            WHEN g.d BETWEEN '2024-04-04' AND '2024-04-06' THEN 1.90
            WHEN g.d BETWEEN '2024-05-01' AND '2024-05-05' THEN 2.20
            WHEN g.d BETWEEN '2024-06-08' AND '2024-06-10' THEN 1.50
            ELSE 1.00 END AS car_f,
       CASE WHEN g.d BETWEEN '2024-02-03' AND '2024-02-20' THEN 0.40
            WHEN g.d BETWEEN '2024-01-26' AND '2024-03-05' THEN 0.85
            ELSE 1.00 END AS truck_f
FROM generate_series(timestamp '2024-01-01', timestamp '2024-06-30', interval '1 day') AS g(d);

-- ---------------------------------------------------------------------------------------------
-- Stalls (档口): fixed core line-up per service area, a few extras, a charging station where
-- the area has one.
-- ---------------------------------------------------------------------------------------------
INSERT INTO stall (area_id, stall_no, stall_name, type_id, brand_name, floor_area_sqm, opened_at,
                   is_active)
SELECT s.area_id, s.stall_no,
       b.brand_name || '(' || s.short_name || '店)',
       bt.type_id, b.brand_name,
       round((tp.min_sqm + (tp.max_sqm - tp.min_sqm) * pg_temp.rnd(s.k || '/sqm'))::numeric, 2),
       CASE WHEN s.status = 'operating' AND pg_temp.rnd(s.k || '/new') < 0.06
            THEN timestamp '2024-02-01 08:00'
                 + interval '1 day' * floor(120 * pg_temp.rnd(s.k || '/day'))
            ELSE s.first_day + time '08:00'
                 + interval '1 day' * floor((date '2023-12-01' - s.first_day)
                                            * pg_temp.rnd(s.k || '/day'))
            END + interval '30 minutes' * floor(8 * pg_temp.rnd(s.k || '/time')),
       NOT (s.status = 'closed' OR (s.status = 'renovating' AND s.stall_no > 2))
FROM (
    SELECT a.*, sl.slot_no AS stall_no, sl.type_code, a.area_code || '/' || sl.slot_no AS k,
           greatest(a.opened_date, date '2015-01-01') AS first_day
    FROM demo_area_profile a
    JOIN (VALUES ('服务区', 1, 'STORE'), ('服务区', 2, 'FUEL'), ('服务区', 3, 'FOOD_FAST'),
                 ('服务区', 4, 'FOOD_LOCAL'), ('服务区', 5, 'SPECIALTY'), ('服务区', 6, 'DRINK'),
                 ('服务区', 7, 'FOOD_WESTERN'), ('服务区', 8, 'CAR_REPAIR'),
                 ('停车区', 1, 'STORE'), ('停车区', 2, 'FOOD_LOCAL'))
        AS sl(area_type, slot_no, type_code)
        ON sl.area_type = a.area_type AND sl.slot_no <= a.stall_count
    UNION ALL
    SELECT a.*, a.stall_count + 1, 'EV_CHARGE', a.area_code || '/' || (a.stall_count + 1),
           greatest(a.opened_date, date '2015-01-01')
    FROM demo_area_profile a
    WHERE a.has_charging_station
) AS s
JOIN business_type bt ON bt.type_code = s.type_code
JOIN demo_type_profile tp ON tp.type_code = s.type_code
JOIN demo_brand b ON b.type_code = s.type_code
    AND b.idx = 1 + floor((SELECT count(*) FROM demo_brand b2 WHERE b2.type_code = s.type_code)
                          * pg_temp.rnd(s.k || '/brand'))
ORDER BY s.area_id, s.stall_no;

-- Lease contracts: a current one for every stall, and the previous term for older stalls.
INSERT INTO stall_contract (contract_no, area_id, stall_no, tenant_name, start_date, end_date,
                            monthly_rent, revenue_share_rate, contract_status, signed_at)
SELECT 'HT' || to_char(c.start_date, 'YYYY') || '-' || lpad(c.area_id::text, 3, '0')
           || '-' || lpad(c.stall_no::text, 2, '0'),
       c.area_id, c.stall_no, b.tenant_name, c.start_date, c.end_date,
       round((c.floor_area_sqm * (tp.rent_lo + (tp.rent_hi - tp.rent_lo)
                                  * pg_temp.rnd(c.k || '/rent')))::numeric, -2),
       round((2 * (tp.share_lo + (tp.share_hi - tp.share_lo)
                   * pg_temp.rnd(c.k || '/share')))::numeric) / 2,  -- steps of 0.5 %
       CASE WHEN c.term = 'previous' THEN '已到期'
            WHEN NOT c.is_active THEN '已终止'
            ELSE '执行中' END,
       c.start_date - (7 + floor(30 * pg_temp.rnd(c.k || '/sign'))::int) + time '09:00'
           + interval '1 minute' * floor(480 * pg_temp.rnd(c.k || '/signtime'))
FROM (
    SELECT st.*, t.term, st.stall_id || '/' || t.term AS k,
           CASE t.term
               WHEN 'current' THEN cur.start_date
               ELSE greatest(st.opened_at::date, (cur.start_date - interval '3 years')::date) END
               AS start_date,
           CASE t.term
               WHEN 'current' THEN (cur.start_date + interval '3 years' - interval '1 day')::date
               ELSE cur.start_date - 1 END AS end_date
    FROM stall st
    CROSS JOIN LATERAL (
        SELECT CASE WHEN st.opened_at >= timestamp '2022-01-01' THEN st.opened_at::date
                    ELSE date '2022-01-01' + floor(700 * pg_temp.rnd(st.stall_id || '/term'))::int
               END AS start_date
    ) AS cur
    CROSS JOIN (VALUES ('current'), ('previous')) AS t(term)
    WHERE t.term = 'current' OR st.opened_at < cur.start_date - interval '1 year'
) AS c
JOIN business_type bt ON bt.type_id = c.type_id
JOIN demo_type_profile tp ON tp.type_code = bt.type_code
JOIN demo_brand b ON b.type_code = bt.type_code AND b.brand_name = c.brand_name
ORDER BY c.start_date, c.area_id, c.stall_no;

-- ---------------------------------------------------------------------------------------------
-- Staff: a station manager per service area; parking areas report to the parent's manager.
-- ---------------------------------------------------------------------------------------------
INSERT INTO employee (employee_no, area_id, full_name, gender, position, hired_date,
                      monthly_salary, phone)
SELECT 'E' || lpad(e.area_id::text, 3, '0')
           || lpad(row_number() OVER (PARTITION BY e.area_id ORDER BY e.pos_no, e.n)::text, 3, '0'),
       e.area_id,
       (ARRAY['陈', '李', '刘', '张', '王', '黄', '吴', '周', '徐', '胡',
              '钟', '曾', '罗', '邓', '万', '熊', '彭', '涂', '龚', '付'])
           [1 + floor(20 * pg_temp.rnd(e.k || '/surname'))::int]
       || CASE WHEN e.gender = '男'
               THEN (ARRAY['建华', '志强', '海林', '文斌', '俊', '军', '晓东', '国平', '伟',
                           '德明', '鹏', '勇', '小龙', '家辉'])
                        [1 + floor(14 * pg_temp.rnd(e.k || '/name'))::int]
               ELSE (ARRAY['丽娟', '小燕', '秀英', '敏', '春梅', '雪', '桂兰', '红霞', '静',
                           '慧', '婷', '玉兰', '芳', '佳怡'])
                        [1 + floor(14 * pg_temp.rnd(e.k || '/name'))::int]
          END,
       e.gender, e.position,
       greatest(e.opened_date, date '2008-01-01' + floor(5800 * pg_temp.rnd(e.k || '/hired'))::int),
       round(((e.salary_lo + (e.salary_hi - e.salary_lo) * pg_temp.rnd(e.k || '/salary')) / 10)
             ::numeric) * 10,
       CASE WHEN pg_temp.rnd(e.k || '/nophone') < 0.08 THEN NULL
            ELSE '1' || (ARRAY['38', '39', '58', '59', '87', '88', '35', '36'])
                            [1 + floor(8 * pg_temp.rnd(e.k || '/prefix'))::int]
                 || lpad(floor(100000000 * pg_temp.rnd(e.k || '/phone'))::bigint::text, 8, '0')
       END
FROM (
    SELECT a.area_id, a.opened_date, p.pos_no, p.position, p.salary_lo, p.salary_hi, n.n,
           a.area_code || '/' || p.pos_no || '/' || n.n AS k,
           CASE WHEN pg_temp.rnd(a.area_code || '/' || p.pos_no || '/' || n.n || '/gender')
                     < p.female_ratio THEN '女' ELSE '男' END AS gender
    FROM demo_area_profile a
    JOIN (VALUES ('服务区', 1, '站长', 1, 9000, 13000, 0.25),
                 ('服务区', 2, '副站长', 1, 7000, 9500, 0.40),
                 ('服务区', 3, '收银员', 4, 3800, 5200, 0.70),
                 ('服务区', 4, '保洁员', 4, 2800, 3600, 0.65),
                 ('服务区', 5, '安保员', 2, 3200, 4200, 0.10),
                 ('服务区', 6, '维修工', 1, 4500, 6500, 0.05),
                 ('停车区', 4, '保洁员', 2, 2800, 3600, 0.65),
                 ('停车区', 5, '安保员', 1, 3200, 4200, 0.10))
        AS p(area_type, pos_no, position, max_count, salary_lo, salary_hi, female_ratio)
        ON p.area_type = a.area_type
    CROSS JOIN LATERAL generate_series(
        1, p.max_count - CASE WHEN p.max_count > 1
                                   AND pg_temp.rnd(a.area_code || '/' || p.pos_no || '/count') < 0.5
                              THEN 1 ELSE 0 END) AS n(n)
) AS e
ORDER BY e.area_id, e.pos_no, e.n;

UPDATE employee AS e
SET manager_id = m.employee_id
FROM service_area AS sa, employee AS m
WHERE sa.area_id = e.area_id
  AND m.area_id = coalesce(sa.parent_area_id, sa.area_id)
  AND m.position = '站长'
  AND e.position <> '站长';

-- ---------------------------------------------------------------------------------------------
-- Facts: daily revenue per stall and payment method, daily vehicle flow per area and type.
-- ---------------------------------------------------------------------------------------------
-- md5 is the expensive part, so each (stall, day, payment method) row hashes its key once and
-- takes its random numbers from slices of that digest (pg_temp.hx).
INSERT INTO daily_revenue (stall_id, biz_date, payment_method, order_count, revenue_amount,
                           refund_amount, recorded_at)
WITH stall_day AS MATERIALIZED (
    SELECT st.stall_id, c.d, c.day_no, bt.avg_ticket_price AS ticket,
           tp.wechat, tp.alipay, tp.cash, tp.bank_card,
           tp.base_revenue * a.traffic_f * c.base_f * c.holiday_f
               * (0.75 + 0.5 * pg_temp.rnd(st.stall_id || '/level'))
               * (0.85 + 0.3 * pg_temp.rnd(st.stall_id || '/' || c.day_no)) AS day_revenue
    FROM stall st
    JOIN demo_area_profile a ON a.area_id = st.area_id
    JOIN business_type bt ON bt.type_id = st.type_id
    JOIN demo_type_profile tp ON tp.type_code = bt.type_code
    JOIN demo_calendar c ON c.d >= st.opened_at::date
        AND (st.is_active OR c.d <= a.last_full_day)
),
stall_day_method AS MATERIALIZED (
    SELECT sd.stall_id, sd.d, sd.ticket, m.ord, m.method,
           md5(sd.stall_id || '/' || sd.day_no || '/' || m.method) AS h,
           sd.day_revenue * m.share AS expected
    FROM stall_day sd
    CROSS JOIN LATERAL (VALUES (1, 'wechat', sd.wechat), (2, 'alipay', sd.alipay),
                               (3, 'cash', sd.cash), (4, 'bank_card', sd.bank_card))
        AS m(ord, method, share)
    WHERE m.share > 0
),
x AS MATERIALIZED (
    SELECT stall_id, d, ord, method, ticket, h,
           round((expected * (0.9 + 0.2 * pg_temp.hx(h, 0)))::numeric, 2) AS amount
    FROM stall_day_method
    WHERE NOT (method = 'cash' AND pg_temp.hx(h, 5) < 0.1)  -- some days without cash sales
)
SELECT x.stall_id, x.d, x.method,
       greatest(1, round(x.amount / (x.ticket * (0.85 + 0.3 * pg_temp.hx(x.h, 1)))))::int,
       x.amount,
       CASE WHEN pg_temp.hx(x.h, 2) < 0.04
            THEN round(x.amount * (0.005 + 0.03 * pg_temp.hx(x.h, 3))::numeric, 2)
            ELSE 0 END,
       x.d + interval '1 day' + interval '1 second' * floor(9000 * pg_temp.hx(x.h, 4))
FROM x
ORDER BY x.stall_id, x.d, x.ord;

INSERT INTO vehicle_flow (area_id, flow_date, vehicle_type, vehicle_count)
SELECT a.area_id, c.d, v.vtype::vehicle_type,
       round(v.base * a.traffic_f * c.base_f
             * CASE v.kind WHEN 'car' THEN c.car_f WHEN 'truck' THEN c.truck_f ELSE c.holiday_f END
             * CASE WHEN a.status = 'renovating' AND c.d > a.last_full_day THEN 0.6 ELSE 1 END
             * (0.85 + 0.3 * pg_temp.rnd(a.area_code || '/' || c.day_no || '/' || v.vtype)))::int
FROM demo_area_profile a
CROSS JOIN demo_calendar c
CROSS JOIN (VALUES (1, 'passenger_car', 6000, 'car'), (2, 'bus', 260, 'bus'),
                   (3, 'truck', 1800, 'truck'), (4, 'dangerous_goods', 35, 'truck'))
    AS v(ord, vtype, base, kind)
WHERE a.status <> 'closed' OR c.d <= a.last_full_day
ORDER BY a.area_id, c.d, v.ord;

ANALYZE;
