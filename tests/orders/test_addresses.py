"""The address book: saved addresses, one default, a limit, ownership; the copy an order keeps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from freshloop.core import clock
from freshloop.core.errors import InvalidInput
from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import Person
from freshloop.orders.errors import (
    AddressInvalid,
    AddressLimitExceeded,
    AddressNotFound,
    AddressUnparseable,
)
from freshloop.orders.models import Address, Order
from freshloop.orders.selectors import address_get_for_person, address_list_for_person
from freshloop.orders.services import (
    MAX_ADDRESSES,
    CheckoutItem,
    CheckoutRequest,
    address_create,
    address_delete,
    address_parse,
    address_set_default,
    address_update,
    order_create,
    region_names,
)
from freshloop.orders.subscribers import orders_follow_merge
from tests.factories import ADDRESS, SAVED_ADDRESS, make_person, make_sku

pytestmark = pytest.mark.django_db

HOME = SAVED_ADDRESS


def _add(person: Person, **fields: Any) -> Address:
    return address_create(person=person, **{**HOME, **fields})


def _default_ids(person: Person) -> list[int]:
    return list(Address.objects.filter(person=person, is_default=True).values_list("pk", flat=True))


class TestAddressCreate:
    def test_the_first_address_is_the_default(self) -> None:
        # given a buyer with no saved address
        person = make_person()
        # when they save one without asking for the default
        address = _add(person, is_default=False)
        # then it is the default anyway
        assert address.is_default
        assert _default_ids(person) == [address.pk]

    def test_a_later_default_takes_over(self) -> None:
        person = make_person()
        first = _add(person)
        second = _add(person, detail="张江路2号", is_default=True)
        assert _default_ids(person) == [second.pk]
        assert not Address.objects.get(pk=first.pk).is_default

    def test_a_later_address_is_not_the_default_unless_asked(self) -> None:
        person = make_person()
        first = _add(person)
        _add(person, detail="张江路2号")
        assert _default_ids(person) == [first.pk]

    def test_phone_is_normalised_to_eleven_digits(self) -> None:
        address = _add(make_person(), phone="+86 138-0013-8000")
        assert address.phone == "13800138000"

    @pytest.mark.parametrize("phone", ["12345", "02112345678", "+1 415 555 0100", "手机号"])
    def test_a_phone_that_is_not_a_mainland_mobile_is_refused(self, phone: str) -> None:
        with pytest.raises(AddressInvalid) as refused:
            _add(make_person(), phone=phone)
        assert "手机号" in refused.value.text
        assert refused.value.detail == {"field": "phone"}

    @pytest.mark.parametrize("field", ["name", "province", "city", "detail"])
    def test_a_missing_required_field_is_named(self, field: str) -> None:
        with pytest.raises(AddressInvalid) as refused:
            _add(make_person(), **{field: "  "})
        assert refused.value.detail == {"field": field}
        assert refused.value.text.startswith("请填写")

    def test_the_limit_is_twenty(self) -> None:
        # given a buyer with a full book
        person = make_person()
        for n in range(MAX_ADDRESSES):
            _add(person, detail=f"张江路{n}号")
        # when they add one more
        with pytest.raises(AddressLimitExceeded) as refused:
            _add(person, detail="多出来的一个")
        # then it is refused with a Chinese message, and nothing was written
        assert refused.value.status == 422
        assert "20" in refused.value.text
        assert Address.objects.filter(person=person).count() == MAX_ADDRESSES

    def test_phone_and_detail_are_encrypted_at_rest(self) -> None:
        address = _add(make_person())
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, phone, detail FROM orders_address WHERE id = %s", [address.pk]
            )
            raw = cursor.fetchone()
        assert "张三" not in raw[0]
        assert "13800138000" not in raw[1]
        assert "张江路" not in raw[2]
        assert Address.objects.get(pk=address.pk).detail == "张江路1号"


class TestAddressUpdate:
    def test_fields_are_replaced_and_default_can_move_here(self) -> None:
        person = make_person()
        first = _add(person)
        second = _add(person, detail="张江路2号")
        updated = address_update(
            person=person, address_id=second.pk, **{**HOME, "detail": "碧波路5号"}, is_default=True
        )
        assert updated.detail == "碧波路5号"
        assert _default_ids(person) == [second.pk]
        assert not Address.objects.get(pk=first.pk).is_default

    def test_unticking_default_keeps_the_one_default(self) -> None:
        person = make_person()
        only = _add(person)
        address_update(person=person, address_id=only.pk, **HOME, is_default=False)
        assert _default_ids(person) == [only.pk]

    def test_another_persons_address_is_not_found(self) -> None:
        owner, stranger = make_person(), make_person()
        address = _add(owner)
        with pytest.raises(AddressNotFound):
            address_update(person=stranger, address_id=address.pk, **{**HOME, "name": "黑客"})
        assert Address.objects.get(pk=address.pk).name == "张三"


class TestAddressSetDefault:
    def test_exactly_one_default(self) -> None:
        person = make_person()
        first = _add(person)
        second = _add(person, detail="张江路2号")
        address_set_default(person=person, address_id=second.pk)
        assert _default_ids(person) == [second.pk]
        address_set_default(person=person, address_id=first.pk)
        assert _default_ids(person) == [first.pk]

    def test_another_persons_address_is_not_found(self) -> None:
        owner, stranger = make_person(), make_person()
        _add(stranger)
        address = _add(owner, detail="张江路2号")
        with pytest.raises(AddressNotFound):
            address_set_default(person=stranger, address_id=address.pk)


class TestAddressDelete:
    def test_deleting_the_default_promotes_the_most_recent(self) -> None:
        # given three addresses, the first the default, the third the most recently changed
        person = make_person()
        start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
        with clock.frozen(start):
            first = _add(person)
            second = _add(person, detail="张江路2号")
        with clock.frozen(start + dt.timedelta(minutes=1)):
            third = _add(person, detail="张江路3号")
        with clock.frozen(start + dt.timedelta(minutes=2)):
            address_update(person=person, address_id=second.pk, **{**HOME, "detail": "改过"})
        # when the default is deleted
        address_delete(person=person, address_id=first.pk)
        # then the most recently changed one is the default
        assert _default_ids(person) == [second.pk]
        assert {a.pk for a in address_list_for_person(person=person)} == {second.pk, third.pk}

    def test_deleting_the_last_leaves_an_empty_book(self) -> None:
        person = make_person()
        only = _add(person)
        address_delete(person=person, address_id=only.pk)
        assert address_list_for_person(person=person) == []

    def test_another_persons_address_is_not_found_and_stays(self) -> None:
        owner, stranger = make_person(), make_person()
        address = _add(owner)
        with pytest.raises(AddressNotFound):
            address_delete(person=stranger, address_id=address.pk)
        assert Address.objects.filter(pk=address.pk).exists()


class TestAddressSelectors:
    def test_the_default_comes_first(self) -> None:
        person = make_person()
        _add(person)
        later = _add(person, detail="张江路2号")
        address_set_default(person=person, address_id=later.pk)
        assert next(a.pk for a in address_list_for_person(person=person)) == later.pk

    def test_get_for_another_person_is_not_found(self) -> None:
        address = _add(make_person())
        with pytest.raises(AddressNotFound) as refused:
            address_get_for_person(person=make_person(), address_id=address.pk)
        assert refused.value.code == "address_not_found"


class TestCheckoutWithSavedAddress:
    def test_the_order_keeps_a_copy(self) -> None:
        # given a buyer with a saved address
        person = make_person()
        milk = make_sku(stock=5)
        saved = _add(person)
        # when they order with it, then edit and delete it
        order, _ = order_create(
            request=CheckoutRequest(
                person=person, items=[CheckoutItem(sku_id=milk.pk, quantity=1)], address_id=saved.pk
            )
        )
        address_update(person=person, address_id=saved.pk, **{**HOME, "detail": "新地址"})
        address_delete(person=person, address_id=saved.pk)
        # then the order still has the address as it was
        order.refresh_from_db()
        assert order.address == HOME

    def test_another_persons_address_id_is_not_found(self) -> None:
        milk = make_sku(stock=5)
        saved = _add(make_person())
        with pytest.raises(AddressNotFound):
            order_create(
                request=CheckoutRequest(
                    person=make_person(),
                    items=[CheckoutItem(sku_id=milk.pk, quantity=1)],
                    address_id=saved.pk,
                )
            )

    def test_both_address_and_address_id_are_refused(self) -> None:
        person = make_person()
        milk = make_sku(stock=5)
        saved = _add(person)
        with pytest.raises(InvalidInput) as refused:
            order_create(
                request=CheckoutRequest(
                    person=person,
                    items=[CheckoutItem(sku_id=milk.pk, quantity=1)],
                    address=dict(ADDRESS),
                    address_id=saved.pk,
                )
            )
        assert refused.value.status == 422
        assert not Order.objects.exists()


class TestAddressesFollowMerge:
    def test_the_survivors_default_stays_the_one_default(self) -> None:
        # given two people with a default address each
        survivor, merged = make_person(), make_person()
        kept = _add(survivor)
        moved = _add(merged, detail="碧波路5号")
        # when the second is merged into the first
        orders_follow_merge(
            IdentityMerged(
                from_person_id=merged.pk,
                into_person_id=survivor.pk,
                from_one_id=merged.one_id,
                into_one_id=survivor.one_id,
                reason="test",
            )
        )
        # then both addresses belong to the survivor, whose default is unchanged
        assert {a.pk for a in address_list_for_person(person=survivor)} == {kept.pk, moved.pk}
        assert _default_ids(survivor) == [kept.pk]


class TestAddressParse:
    def test_a_municipality(self) -> None:
        parsed = address_parse(text="张三 13800138000 上海市浦东新区张江路1号")
        assert (parsed.name, parsed.phone) == ("张三", "13800138000")
        assert (parsed.province, parsed.city, parsed.district) == ("上海市", "上海市", "浦东新区")
        assert parsed.detail == "张江路1号"

    def test_province_city_district_with_labels_and_the_name_last(self) -> None:
        parsed = address_parse(
            text="收货地址：广东省深圳市南山区科技园科苑路15号，电话：139-1234-5678，李四"
        )
        assert (parsed.name, parsed.phone) == ("李四", "13912345678")
        assert (parsed.province, parsed.city, parsed.district) == ("广东省", "深圳市", "南山区")
        assert parsed.detail == "科技园科苑路15号"

    def test_no_place_is_unparseable(self) -> None:
        with pytest.raises(AddressUnparseable) as refused:
            address_parse(text="你好 谢谢")
        assert refused.value.status == 422
        assert "省市区" in refused.value.text


class TestRegionNames:
    def test_levels(self) -> None:
        provinces = region_names()
        assert "上海市" in provinces
        assert "广东省" in provinces
        assert len(provinces) >= 31
        assert "深圳市" in region_names(province="广东省")
        assert "南山区" in region_names(province="广东省", city="深圳市")
        assert "浦东新区" in region_names(province="上海市", city="上海市")

    def test_unknown_names_have_no_children(self) -> None:
        assert region_names(province="火星") == []
        assert region_names(province="广东省", city="火星市") == []
