"""The demo brand 鲜环优选: a dairy-and-fresh company selling through live sessions.

Static data only; `manage.py demo_seed` turns it into rows through the services.
"""

from __future__ import annotations

from dataclasses import dataclass

BRAND_NAME = "鲜环优选"
DEMO_PASSWORD = "freshloop-demo"  # noqa: S105 (the published demo password)


@dataclass(frozen=True)
class DemoCategory:
    code: str
    name: str


@dataclass(frozen=True)
class DemoProduct:
    code: str
    name: str
    category: str
    storage: str  # ambient / chilled / frozen
    shelf_life_days: int
    origin: str
    description: str
    skus: tuple[tuple[str, str, int], ...]  # (sku code, spec, price in fen)


@dataclass(frozen=True)
class DemoWarehouse:
    code: str
    name: str
    province: str
    city: str
    address: str
    ambient: bool
    chilled: bool
    frozen: bool


CATEGORIES = [
    DemoCategory("fresh-milk", "鲜牛奶"),
    DemoCategory("yogurt", "酸奶"),
    DemoCategory("eggs", "鲜鸡蛋"),
    DemoCategory("indica-rice", "籼米"),
    DemoCategory("japonica-rice", "粳米"),
    DemoCategory("frozen-dumplings", "速冻水饺"),
    DemoCategory("seasonal-fruit", "应季水果"),
]

PRODUCTS = [
    DemoProduct(
        "milk-pasture",
        "牧场鲜牛奶",
        "fresh-milk",
        "chilled",
        7,
        "内蒙古锡林郭勒",
        "巴氏杀菌，4.0g 乳蛋白",
        (
            ("milk-pasture-950", "950ml", 1590),
            ("milk-pasture-950x2", "950ml×2", 2990),
            ("milk-pasture-250x10", "250ml×10", 4990),
        ),
    ),
    DemoProduct(
        "milk-a2",
        "A2β-酪蛋白鲜奶",
        "fresh-milk",
        "chilled",
        7,
        "宁夏贺兰山",
        "A2 奶源，肠胃更友好",
        (("milk-a2-750", "750ml", 2290), ("milk-a2-750x2", "750ml×2", 4290)),
    ),
    DemoProduct(
        "milk-lowfat",
        "低脂鲜牛奶",
        "fresh-milk",
        "chilled",
        7,
        "黑龙江齐齐哈尔",
        "脂肪减半",
        (("milk-lowfat-950", "950ml", 1490), ("milk-lowfat-950x2", "950ml×2", 2790)),
    ),
    DemoProduct(
        "milk-kids",
        "儿童成长鲜奶",
        "fresh-milk",
        "chilled",
        10,
        "内蒙古锡林郭勒",
        "添加 DHA",
        (("milk-kids-200x12", "200ml×12", 5990),),
    ),
    DemoProduct(
        "yogurt-plain",
        "原味老酸奶",
        "yogurt",
        "chilled",
        21,
        "新疆伊犁",
        "传统发酵，0 添加蔗糖",
        (("yogurt-plain-180x6", "180g×6", 3290), ("yogurt-plain-1kg", "1kg 家庭装", 2990)),
    ),
    DemoProduct(
        "yogurt-greek",
        "希腊式浓缩酸奶",
        "yogurt",
        "chilled",
        21,
        "上海金山",
        "高蛋白，可当早餐",
        (("yogurt-greek-100x8", "100g×8", 3990), ("yogurt-greek-500", "500g 家庭装", 3590)),
    ),
    DemoProduct(
        "yogurt-drink",
        "益生菌酸奶饮品",
        "yogurt",
        "chilled",
        21,
        "江苏南京",
        "每瓶 100 亿活菌",
        (("yogurt-drink-300x6", "300ml×6", 2790),),
    ),
    DemoProduct(
        "yogurt-fruit",
        "黄桃果粒酸奶",
        "yogurt",
        "chilled",
        21,
        "山东临沂",
        "真果粒",
        (("yogurt-fruit-200x8", "200g×8", 3490),),
    ),
    DemoProduct(
        "eggs-free-range",
        "散养土鸡蛋",
        "eggs",
        "chilled",
        30,
        "湖北恩施",
        "林下散养",
        (("eggs-free-range-30", "30枚装", 4590), ("eggs-free-range-15", "15枚装", 2490)),
    ),
    DemoProduct(
        "eggs-sterile",
        "可生食鲜鸡蛋",
        "eggs",
        "chilled",
        21,
        "江苏常州",
        "无菌蛋，可做溏心蛋",
        (("eggs-sterile-20", "20枚装", 5990), ("eggs-sterile-10", "10枚装", 3190)),
    ),
    DemoProduct(
        "eggs-omega",
        "富硒鸡蛋",
        "eggs",
        "ambient",
        30,
        "陕西安康",
        "富硒饲料喂养",
        (("eggs-omega-30", "30枚装", 3990),),
    ),
    DemoProduct(
        "rice-simiao",
        "增城丝苗米",
        "indica-rice",
        "ambient",
        365,
        "广东增城",
        "地理标志产品，粒长晶莹",
        (("rice-simiao-5kg", "5kg", 8990), ("rice-simiao-2.5kg", "2.5kg", 4790)),
    ),
    DemoProduct(
        "rice-wannian",
        "万年贡米",
        "indica-rice",
        "ambient",
        365,
        "江西万年",
        "籼米，口感松软",
        (("rice-wannian-5kg", "5kg", 6990),),
    ),
    DemoProduct(
        "rice-xiangya",
        "泰式香牙米",
        "indica-rice",
        "ambient",
        365,
        "广西玉林",
        "茉莉香型",
        (("rice-xiangya-10kg", "10kg", 9990),),
    ),
    DemoProduct(
        "rice-wuchang",
        "五常稻花香大米",
        "japonica-rice",
        "ambient",
        365,
        "黑龙江五常",
        "稻花香2号，一年一季",
        (("rice-wuchang-5kg", "5kg", 12900), ("rice-wuchang-2.5kg", "2.5kg", 6900)),
    ),
    DemoProduct(
        "rice-panjin",
        "盘锦蟹田大米",
        "japonica-rice",
        "ambient",
        365,
        "辽宁盘锦",
        "稻蟹共生",
        (("rice-panjin-5kg", "5kg", 7990), ("rice-panjin-10kg", "10kg", 14900)),
    ),
    DemoProduct(
        "rice-northeast",
        "东北珍珠米",
        "japonica-rice",
        "ambient",
        365,
        "吉林舒兰",
        "圆粒粳米，适合做寿司",
        (("rice-northeast-10kg", "10kg", 8990),),
    ),
    DemoProduct(
        "dumpling-pork",
        "猪肉白菜水饺",
        "frozen-dumplings",
        "frozen",
        180,
        "山东青岛",
        "手工包制",
        (("dumpling-pork-1kg", "1kg(约50只)", 3990), ("dumpling-pork-500g", "500g", 2190)),
    ),
    DemoProduct(
        "dumpling-shrimp",
        "三鲜虾仁水饺",
        "frozen-dumplings",
        "frozen",
        180,
        "辽宁大连",
        "整只虾仁",
        (("dumpling-shrimp-600g", "600g", 4590), ("dumpling-shrimp-1.2kg", "1.2kg 家庭装", 8590)),
    ),
    DemoProduct(
        "dumpling-lamb",
        "羊肉胡萝卜水饺",
        "frozen-dumplings",
        "frozen",
        180,
        "内蒙古呼伦贝尔",
        "草原羊肉",
        (("dumpling-lamb-1kg", "1kg", 5590),),
    ),
    DemoProduct(
        "dumpling-veg",
        "荠菜香菇素水饺",
        "frozen-dumplings",
        "frozen",
        180,
        "浙江湖州",
        "春季荠菜",
        (("dumpling-veg-500g", "500g", 2590),),
    ),
    DemoProduct(
        "fruit-citrus",
        "赣南脐橙",
        "seasonal-fruit",
        "chilled",
        14,
        "江西赣州",
        "冬季应季，果径 75mm+",
        (("fruit-citrus-5kg", "5kg", 6990), ("fruit-citrus-2.5kg", "2.5kg", 3990)),
    ),
    DemoProduct(
        "fruit-strawberry",
        "丹东红颜草莓",
        "seasonal-fruit",
        "chilled",
        5,
        "辽宁丹东",
        "冬春应季",
        (("fruit-strawberry-1kg", "1kg", 8990),),
    ),
    DemoProduct(
        "fruit-kiwi",
        "眉县猕猴桃",
        "seasonal-fruit",
        "chilled",
        14,
        "陕西眉县",
        "徐香品种",
        (("fruit-kiwi-24", "24枚装", 5990), ("fruit-kiwi-12", "12枚装", 3290)),
    ),
    DemoProduct(
        "fruit-lychee",
        "增城荔枝",
        "seasonal-fruit",
        "chilled",
        5,
        "广东增城",
        "夏季应季，冷链直发",
        (("fruit-lychee-2.5kg", "2.5kg", 9990),),
    ),
    DemoProduct(
        "fruit-apple",
        "阿克苏冰糖心苹果",
        "seasonal-fruit",
        "chilled",
        30,
        "新疆阿克苏",
        "秋冬应季",
        (("fruit-apple-5kg", "5kg", 5990),),
    ),
]

WAREHOUSES = [
    DemoWarehouse(
        "sh-qingpu",
        "上海青浦冷链仓",
        "上海",
        "上海",
        "上海市青浦区华新镇华腾路 1288 号",
        True,
        True,
        True,
    ),
    DemoWarehouse(
        "gz-baiyun",
        "广州白云冷链仓",
        "广东",
        "广州",
        "广州市白云区太和镇永兴村物流园 8 栋",
        True,
        True,
        True,
    ),
    DemoWarehouse(
        "bj-daxing",
        "北京大兴仓",
        "北京",
        "北京",
        "北京市大兴区魏善庄镇物流基地 3 号库",
        True,
        True,
        False,
    ),
]

# (province, weight, cities): weights roughly follow where private-domain dairy sells.
PROVINCES = [
    ("广东", 14, ["广州", "深圳", "佛山", "东莞"]),
    ("浙江", 11, ["杭州", "宁波", "温州", "绍兴"]),
    ("江苏", 11, ["南京", "苏州", "无锡", "常州"]),
    ("上海", 9, ["上海"]),
    ("北京", 8, ["北京"]),
    ("山东", 7, ["济南", "青岛", "烟台"]),
    ("四川", 6, ["成都", "绵阳"]),
    ("湖北", 5, ["武汉", "宜昌"]),
    ("福建", 5, ["福州", "厦门", "泉州"]),
    ("河南", 4, ["郑州", "洛阳"]),
    ("湖南", 4, ["长沙", "株洲"]),
    ("天津", 3, ["天津"]),
    ("安徽", 3, ["合肥", "芜湖"]),
    ("陕西", 3, ["西安"]),
    ("重庆", 3, ["重庆"]),
    ("辽宁", 2, ["沈阳", "大连"]),
    ("江西", 2, ["南昌", "赣州"]),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶程魏苏吕丁任沈姚卢"
GIVEN_NAMES = [
    "丽",
    "敏",
    "静",
    "婷",
    "芳",
    "娜",
    "雪",
    "慧",
    "佳怡",
    "欣怡",
    "子涵",
    "梓萱",
    "诗涵",
    "雨桐",
    "伟",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "杰",
    "浩然",
    "宇轩",
    "子豪",
    "俊杰",
    "明轩",
    "建国",
    "志强",
]
NICKNAMES = [
    "宝妈",
    "牛奶控",
    "早餐达人",
    "吃货",
    "小厨娘",
    "健身党",
    "养生派",
    "奶爸",
    "上班族",
    "退休阿姨",
]
MOBILE_PREFIXES = [
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "158",
    "159",
    "186",
    "187",
    "188",
    "189",
    "177",
    "180",
]
