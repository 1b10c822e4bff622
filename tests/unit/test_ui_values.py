"""The CI page's value presentation (``cmdb.server.ui.views.values``): byte counts in binary
units, lists of objects item by item, and history changes as added/removed/changed."""

from __future__ import annotations

from cmdb.server.ui.views.values import change, display, human_bytes

ROOT = {"device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4", "size_bytes": 100 << 30}


def test_bytes_read_as_binary_units():
    assert display("memory_bytes", 25276510208)["text"] == "23.5 GiB"
    assert human_bytes(512) == "512 B" and human_bytes(1 << 40) == "1.0 TiB"
    assert display("cpu_cores", 25276510208)["text"] == "25276510208"  # not a byte count


def test_a_list_of_objects_is_one_item_a_line():
    disks = [{"name": "sda", "size_bytes": 500107862016, "model": "X", "serial": None}]
    shown = display("disks", disks)
    assert shown["text"] == "sda"
    assert shown["items"] == ["sda · size 465.8 GiB · model X"]


def test_a_list_change_names_what_was_added_removed_and_changed():
    data = {"device": "/dev/sdb1", "mountpoint": "/data", "fstype": "xfs", "size_bytes": 1 << 40}
    boot = {"device": "/dev/sda2", "mountpoint": "/boot", "fstype": "ext4", "size_bytes": 1 << 30}
    grown = {**ROOT, "size_bytes": 200 << 30}
    c = change("filesystems", [ROOT, boot], [grown, data])
    assert c["kind"] == "list"
    assert c["added"] == ["/data · device /dev/sdb1 · fstype xfs · size 1.0 TiB"]
    assert c["removed"] == ["/boot · device /dev/sda2 · fstype ext4 · size 1.0 GiB"]
    assert c["changed"] == [
        {"item": "/", "fields": [{"field": "size", "old": "100.0 GiB", "new": "200.0 GiB"}]}
    ]


def test_first_value_and_scalars():
    gw = {"family": 2, "address": "10.0.0.1", "interface": "eth0", "is_default": True}
    assert change("gateways", None, [gw])["added"] == [
        "10.0.0.1 · family IPv4 · interface eth0 · is default yes"
    ]
    assert change("memory_bytes", 25276510208, 1 << 35) == {
        "kind": "value",
        "old": "23.5 GiB",
        "new": "32.0 GiB",
    }
    assert change("kernel", "6.1", None) == {"kind": "value", "old": "6.1", "new": ""}
