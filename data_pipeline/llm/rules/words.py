"""Identifier splitting and a bilingual glossary of words common in business schemas.

``phrase("created_at", "zh")`` → ``创建时间``; ``phrase("orderCount", "en")`` → ``Order count``.
Unknown words are kept as they are, so a phrase is never invented.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

# word -> (Chinese, English). English None = the word itself.
GLOSSARY: dict[str, tuple[str, str | None]] = {
    # identity and naming
    "id": ("ID", "ID"), "uuid": ("唯一标识", "UUID"), "guid": ("唯一标识", "GUID"),
    "code": ("编码", None), "no": ("编号", "number"), "num": ("编号", "number"),
    "number": ("编号", None), "name": ("名称", None), "title": ("标题", None),
    "key": ("键", None), "label": ("标签", None), "tag": ("标签", None), "alias": ("别名", None),
    "desc": ("描述", "description"), "description": ("描述", None), "remark": ("备注", None),
    "remarks": ("备注", None), "note": ("备注", None), "notes": ("备注", None),
    "comment": ("评论", None), "content": ("内容", None), "text": ("文本", None),
    "type": ("类型", None), "kind": ("种类", None),
    "class": ("类别", None), "level": ("级别", None), "grade": ("等级", None),
    "rank": ("排名", None), "status": ("状态", None), "state": ("状态", None),
    "flag": ("标志", None), "version": ("版本", None), "seq": ("序号", "sequence"),
    "sort": ("排序", None), "order": ("订单", None), "orders": ("订单", None),
    # people and organisations
    "user": ("用户", None), "users": ("用户", None), "username": ("用户名", None),
    "customer": ("客户", None), "customers": ("客户", None), "client": ("客户", None),
    "member": ("会员", None), "account": ("账户", None), "employee": ("员工", None),
    "employees": ("员工", None), "staff": ("员工", None), "emp": ("员工", "employee"),
    "manager": ("经理", None), "owner": ("负责人", None), "operator": ("操作员", None),
    "person": ("人员", None), "contact": ("联系", None), "tenant": ("租户", None),
    "supplier": ("供应商", None), "vendor": ("供应商", None), "merchant": ("商户", None),
    "company": ("公司", None), "corp": ("公司", "company"), "org": ("组织", "organisation"),
    "organization": ("组织", None), "dept": ("部门", "department"),
    "department": ("部门", None), "team": ("团队", None), "group": ("分组", None),
    "role": ("角色", None), "author": ("作者", None), "student": ("学生", None),
    "teacher": ("教师", None), "patient": ("患者", None), "doctor": ("医生", None),
    "driver": ("司机", None), "legal": ("法定", None), "representative": ("代表人", None),
    "full": ("全", None), "first": ("首次", None), "last": ("最后", None), "nick": ("昵称", None),
    "gender": ("性别", None), "sex": ("性别", None), "age": ("年龄", None),
    "birth": ("出生", None), "birthday": ("生日", None), "position": ("职位", None),
    "job": ("岗位", None), "salary": ("薪资", None), "wage": ("工资", None),
    "parent": ("上级", None), "child": ("下级", None),
    # contact and places
    "phone": ("电话", None), "mobile": ("手机号", None), "tel": ("电话", "telephone"),
    "email": ("邮箱", None), "mail": ("邮件", None), "address": ("地址", None),
    "addr": ("地址", "address"), "city": ("城市", None), "province": ("省份", None),
    "country": ("国家", None), "district": ("区县", None),
    "area": ("区域", None), "zone": ("区域", None), "street": ("街道", None),
    "zip": ("邮编", None), "postcode": ("邮编", None), "location": ("位置", None),
    "site": ("站点", None), "station": ("站点", None), "store": ("门店", None),
    "shop": ("店铺", None), "branch": ("分支机构", None), "warehouse": ("仓库", None),
    "lat": ("纬度", "latitude"), "latitude": ("纬度", None), "lng": ("经度", "longitude"),
    "lon": ("经度", "longitude"), "longitude": ("经度", None), "route": ("线路", None),
    "road": ("道路", None), "highway": ("高速公路", None), "stake": ("桩", None),
    "floor": ("楼层", None), "room": ("房间", None), "url": ("网址", "URL"),
    "website": ("网站", None), "ip": ("IP地址", "IP address"), "start": ("起始", None),
    "end": ("结束", None), "from": ("起点", None), "to": ("终点", None),
    "source": ("来源", None), "target": ("目标", None), "dest": ("目的地", "destination"),
    # commerce
    "product": ("产品", None), "products": ("产品", None), "goods": ("商品", None),
    "item": ("明细", None), "items": ("明细", None), "sku": ("SKU", "SKU"),
    "brand": ("品牌", None), "catalog": ("目录", None),
    "stock": ("库存", None), "price": ("价格", None), "cost": ("成本", None),
    "fee": ("费用", None), "charge": ("收费", None), "charging": ("充电", None),
    "amount": ("金额", None), "amt": ("金额", "amount"), "total": ("总", None),
    "sum": ("合计", None), "subtotal": ("小计", None), "balance": ("余额", None),
    "discount": ("折扣", None), "tax": ("税", None), "rate": ("比率", None),
    "ratio": ("比例", None), "percent": ("百分比", None), "pct": ("百分比", "percent"),
    "share": ("分成", None), "revenue": ("营收", None), "income": ("收入", None),
    "sale": ("销售", None), "profit": ("利润", None),
    "budget": ("预算", None), "payment": ("付款", None), "pay": ("支付", None),
    "paid": ("支付", None), "refund": ("退款", None), "invoice": ("发票", None),
    "bill": ("账单", None), "contract": ("合同", None), "rent": ("租金", None),
    "deposit": ("押金", None), "currency": ("币种", None), "capital": ("资本", None),
    "registered": ("注册", None), "transaction": ("交易", None), "trade": ("交易", None),
    "cart": ("购物车", None), "coupon": ("优惠券", None), "promotion": ("促销", None),
    "ticket": ("票", None), "avg": ("平均", "average"), "average": ("平均", None),
    "max": ("最大", "maximum"), "min": ("最小", "minimum"), "unit": ("单位", None),
    "qty": ("数量", "quantity"), "quantity": ("数量", None), "count": ("数量", None),
    "cnt": ("数量", "count"), "score": ("评分", None),
    "review": ("评价", None), "method": ("方式", None), "channel": ("渠道", None),
    "stall": ("档口", None), "service": ("服务", None), "business": ("业务", None),
    "biz": ("业务", "business"), "operating": ("运营", None),
    # measures and physical quantities
    "length": ("长度", None), "width": ("宽度", None), "height": ("高度", None),
    "weight": ("重量", None), "size": ("大小", None), "volume": ("体积", None),
    "distance": ("距离", None), "duration": ("时长", None), "speed": ("速度", None),
    "km": ("公里", "km"), "sqm": ("平方米", "square metres"), "kg": ("千克", "kg"),
    "lanes": ("车道数", None), "lane": ("车道", None), "parking": ("停车", None),
    "spaces": ("位数", None), "space": ("空间", None), "land": ("土地", None),
    "capacity": ("容量", None), "temperature": ("温度", None), "value": ("值", None),
    "vehicle": ("车辆", None), "vehicles": ("车辆", None), "car": ("汽车", None),
    "flow": ("流量", None), "traffic": ("交通流量", None), "visit": ("访问", None),
    "visits": ("访问", None), "click": ("点击", None), "view": ("浏览", None),
    "views": ("浏览量", None), "log": ("日志", None), "event": ("事件", None),
    "message": ("消息", None), "file": ("文件", None), "image": ("图片", None),
    "photo": ("照片", None), "path": ("路径", None), "data": ("数据", None),
    "info": ("信息", "information"), "detail": ("明细", None), "details": ("明细", None),
    "record": ("记录", None), "history": ("历史", None), "config": ("配置", "configuration"),
    "setting": ("设置", None), "settings": ("设置", None), "option": ("选项", None),
    "task": ("任务", None), "project": ("项目", None), "plan": ("计划", None),
    "report": ("报表", None), "course": ("课程", None),
    "exam": ("考试", None), "hospital": ("医院", None), "flight": ("航班", None),
    # time
    "date": ("日期", None), "time": ("时间", None), "datetime": ("时间", None),
    "timestamp": ("时间戳", None), "day": ("日", None), "daily": ("每日", None),
    "week": ("周", None), "weekly": ("每周", None), "month": ("月份", None),
    "monthly": ("月", None), "year": ("年份", None), "yearly": ("年度", None),
    "annual": ("年度", None), "quarter": ("季度", None), "hour": ("小时", None),
    "period": ("期间", None), "at": ("时间", None), "on": ("日期", None),
    "created": ("创建", None), "create": ("创建", None), "updated": ("更新", None),
    "update": ("更新", None), "modified": ("修改", None), "deleted": ("删除", None),
    "opened": ("开通", None), "open": ("开放", None), "closed": ("关闭", None),
    "close": ("关闭", None), "signed": ("签订", None), "recorded": ("记录", None),
    "hired": ("入职", None), "hire": ("入职", None), "established": ("成立", None),
    "expired": ("到期", None), "expire": ("到期", None), "expiry": ("到期", None),
    "approved": ("审批", None), "shipped": ("发货", None), "delivered": ("送达", None),
    "started": ("开始", None), "ended": ("结束", None), "finished": ("完成", None),
    "completed": ("完成", None), "cancelled": ("取消", None), "login": ("登录", None),
    "register": ("注册", None), "effective": ("生效", None), "due": ("到期", None),
    # flags and states
    "is": ("是否", "is"), "has": ("是否有", "has"), "enabled": ("启用", None),
    "enable": ("启用", None), "active": ("有效", None), "valid": ("有效", None),
    "visible": ("可见", None), "default": ("默认", None), "primary": ("主", None),
    "public": ("公开", None), "new": ("新", None), "old": ("旧", None),
    "current": ("当前", None), "main": ("主", None), "sub": ("子", None),
    "by": ("按", None), "of": ("", None),
    "per": ("每", None), "and": ("和", None), "in": ("", None),
    "line": ("明细", None), "lines": ("明细", None), "boss": ("上级", None),
    "leader": ("负责人", None), "ordered": ("下单", None), "empty": ("空", None),
    "entry": ("条目", None), "film": ("电影", None), "movie": ("电影", None),
    "actor": ("演员", None), "rental": ("租赁", None), "language": ("语言", None),
    "release": ("发行", None), "replacement": ("重置", None), "feature": ("特性", None),
    "features": ("特性", None), "picture": ("图片", None), "postal": ("邮政", None),
    "password": ("密码", None), "return": ("归还", None), "returned": ("归还", None),
    "special": ("特殊", None), "original": ("原始", None),
    # media, music and rental shops (public sample databases users try first)
    "track": ("曲目", None), "tracks": ("曲目", None), "album": ("专辑", None),
    "artist": ("艺术家", None), "genre": ("流派", None), "playlist": ("播放列表", None),
    "media": ("媒体", None), "composer": ("作曲者", None), "song": ("歌曲", None),
    "milliseconds": ("毫秒数", None), "millisecond": ("毫秒", None), "bytes": ("字节数", None),
    "byte": ("字节", None), "seconds": ("秒数", None), "minutes": ("分钟数", None),
    "episode": ("剧集", None), "show": ("节目", None), "category": ("类别", None),
    "inventory": ("库存", None), "rating": ("评级", None), "fulltext": ("全文", "full text"),
    "rep": ("代表", "representative"), "support": ("支持", None), "reports": ("汇报", None),
    "billing": ("账单", None), "shipping": ("配送", None), "ship": ("发货", None),
    "shipper": ("承运商", None), "freight": ("运费", None), "territory": ("销售区域", None),
    "discontinued": ("已停产", None), "reorder": ("再订购", None), "units": ("数量", None),
    "fax": ("传真", None), "bool": ("", ""), "flg": ("标志", "flag"),
    # commerce and organisations (more)
    "invoices": ("发票", None), "payments": ("付款", None), "rentals": ("租赁", None),
    "films": ("电影", None), "stores": ("门店", None), "shipment": ("发货单", None),
    "purchase": ("采购", None), "sales": ("销售额", None), "quote": ("报价", None),
    "loan": ("贷款", None), "policy": ("保单", None), "claim": ("理赔", None),
    "salesperson": ("销售员", None), "office": ("办公室", None), "region": ("区域", None),
    "island": ("岛屿", None),
}  # fmt: skip

# Words that may end a glued identifier (``customerid``, ``reportsto``) or start one
# (``isactive``) although shorter than the three letters other pieces need.
_GLUED_HEADS = frozenset({"is", "has"})
_GLUED_TAILS = frozenset({"id", "no", "to", "by", "at", "on"})
_ORDINALS = {
    "1": ("第一", "first"), "2": ("第二", "second"), "3": ("第三", "third"),
    "4": ("第四", "fourth"), "5": ("第五", "fifth"), "6": ("第六", "sixth"),
    "7": ("第七", "seventh"), "8": ("第八", "eighth"), "9": ("第九", "ninth"),
}  # fmt: skip

# Whole identifiers whose meaning is not the sum of their words.
PHRASES: dict[str, tuple[str, str]] = {
    "created_at": ("创建时间", "Creation time"),
    "updated_at": ("更新时间", "Last update time"),
    "deleted_at": ("删除时间", "Deletion time"),
    "created_by": ("创建人", "Created by"),
    "updated_by": ("更新人", "Updated by"),
    "is_deleted": ("是否已删除", "Whether deleted"),
    "id": ("编号", "ID"),
    "service_area": ("服务区", "Service area"),
    "last_update": ("最后更新时间", "Last update time"),
    "last_updated": ("最后更新时间", "Last update time"),
    "last_modified": ("最后修改时间", "Last modification time"),
    "update_time": ("更新时间", "Update time"),
    "create_time": ("创建时间", "Creation time"),
    "create_date": ("创建日期", "Creation date"),
    "total": ("总额", "Total amount"),
    "full_name": ("姓名", "Full name"),
    "first_name": ("名", "First name"),
    "last_name": ("姓", "Last name"),
    "stake_no": ("桩号", "Stake number"),
    "legal_representative": ("法定代表人", "Legal representative"),
    "reports_to": ("上级", "Manager"),
    "support_rep_id": ("客服代表ID", "Support representative ID"),
    "unit_price": ("单价", "Unit price"),
    "rental_rate": ("租金", "Rental rate"),
    "rental_duration": ("租期", "Rental duration"),
    "replacement_cost": ("重置成本", "Replacement cost"),
    "birth_date": ("出生日期", "Birth date"),
    "postal_code": ("邮政编码", "Postal code"),
    "media_type": ("媒体类型", "Media type"),
    "invoice_line": ("发票明细", "Invoice line"),
}


def has_cjk(text: str | None) -> bool:
    """True when ``text`` contains Chinese (CJK) characters."""
    return bool(text and _CJK.search(text))


def language_of(business_context: str | None) -> str:
    """``zh`` for a Chinese business context, else ``en``."""
    return "zh" if has_cjk(business_context) else "en"


def split_identifier(name: str) -> list[str]:
    """``orderCount_2024`` → ``['order', 'count', '2024']``, ``activebool`` → ``['active',
    'bool']`` (lower case; glued words are split when every piece is a known word)."""
    words: list[str] = []
    for part in re.split(r"[^0-9A-Za-z]+", name or ""):
        for w in _CAMEL.findall(part):
            words.extend(unglue(w.lower()))
    return words


def _known(token: str) -> bool:
    return token in GLOSSARY or _singular(token) is not None


def unglue(token: str) -> list[str]:
    """``invoicelineid`` → ``['invoice', 'line', 'id']``: a word the glossary does not know,
    split into the fewest known words (pieces of three letters or more, besides ``is``/``has``
    in front and ``id``/``no``/``to``/``by``/``at``/``on`` at the end). Unsplittable words
    come back whole."""
    if len(token) < 5 or not token.isalpha() or _known(token):
        return [token]
    n = len(token)
    # best[i]: fewest pieces covering token[:i] (None = impossible).
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(1, n + 1):
        for j in range(i):
            piece, head = token[j:i], best[j]
            if head is None or not _known(piece):
                continue
            short = len(piece) < 3
            if short and not (
                (j == 0 and piece in _GLUED_HEADS) or (i == n and piece in _GLUED_TAILS)
            ):
                continue
            if best[i] is None or len(head) + 1 < len(best[i]):
                best[i] = [*head, piece]
    pieces = best[n]
    return pieces if pieces and len(pieces) > 1 else [token]


def _singular(word: str) -> str | None:
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            candidate = word[: -len(suffix)] + repl
            if candidate in GLOSSARY:
                return candidate
    return None


def word(token: str, lang: str) -> str:
    """One word in ``lang``; unknown words come back unchanged."""
    entry = GLOSSARY.get(token) or GLOSSARY.get(_singular(token) or "")
    if entry is None:
        return token
    zh, en = entry
    return zh if lang == "zh" else (token if en is None else en)


def known_share(name: str) -> float:
    """Share of the identifier's words the glossary knows (0-1)."""
    tokens = [t for t in split_identifier(name) if not t.isdigit()]
    if not tokens:
        return 0.0
    known = sum(1 for t in tokens if t in GLOSSARY or _singular(t))
    return known / len(tokens)


def phrase(name: str, lang: str) -> str:
    """The identifier as words: ``company_id`` → ``公司ID`` / ``Company ID``."""
    key = "_".join(split_identifier(name))
    if key in PHRASES:
        zh, en = PHRASES[key]
        return zh if lang == "zh" else en
    tokens = split_identifier(name)
    if not tokens:
        return name
    ordinal = ""
    if len(tokens) > 1 and not tokens[-2].isdigit():
        if tokens[-1] in _ORDINALS:
            # address2 → "second address" (a numbered variant, not a quantity).
            ordinal = _ORDINALS[tokens[-1]][0 if lang == "zh" else 1]
            tokens = tokens[:-1]
        elif re.fullmatch(r"(19|20)\d\d", tokens[-1]):
            ordinal = tokens[-1] + ("年" if lang == "zh" else "")  # sales_2024 → 2024年销售额
            tokens = tokens[:-1]
        key = "_".join(tokens)
        if ordinal and key in PHRASES:
            zh, en = PHRASES[key]
            return ordinal + zh if lang == "zh" else f"{ordinal.capitalize()} {en.lower()}"
    if lang == "zh":
        return ordinal + _phrase_zh(tokens)
    text = _phrase_en(tokens)
    if ordinal:
        text = f"{ordinal} {text[:1].lower()}{text[1:]}"
    return text[:1].upper() + text[1:]


def _phrase_zh(tokens: list[str]) -> str:
    head, tail = tokens[:-1], tokens[-1]
    if tokens[0] in ("is", "has") and len(tokens) > 1:
        return word(tokens[0], "zh") + "".join(word(t, "zh") for t in tokens[1:])
    if tail == "at" and head:
        return "".join(word(t, "zh") for t in head) + "时间"
    if tail == "by" and head:
        return "".join(word(t, "zh") for t in head) + "人"
    parts = [word(t, "zh") for t in tokens]
    # Keep spaces only between two untranslated (Latin) words.
    out = ""
    for part in parts:
        if out and out[-1].isascii() and out[-1].isalnum() and part[:1].isascii():
            out += " "
        out += part
    return out


def _phrase_en(tokens: list[str]) -> str:
    if tokens[0] == "is" and len(tokens) > 1:
        text = "whether " + " ".join(word(t, "en") for t in tokens[1:])
    elif tokens[0] == "has" and len(tokens) > 1:
        text = "whether it has " + " ".join(word(t, "en") for t in tokens[1:])
    elif tokens[-1] == "at" and len(tokens) > 1:
        text = " ".join(word(t, "en") for t in tokens[:-1]) + " time"
    else:
        text = " ".join(word(t, "en") for t in tokens)
    text = " ".join(text.split())  # words that vanish in English (``bool``)
    return text[:1].upper() + text[1:]
