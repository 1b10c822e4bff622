"""SNMP collectors, SNMP::Info-style: one module per MIB area, a transport seam
(``session``), a full-device ``inventory`` and an address ``sweep``.

Import the pieces from their modules, e.g.::

    from cmdb.collectors.snmp.session import Credential, open_session
    from cmdb.collectors.snmp.inventory import collect_device
    from cmdb.collectors.snmp.sweep import sweep
"""
