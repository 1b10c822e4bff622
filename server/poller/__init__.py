"""The remote SNMP poller (``cmdb poller run``): scans near its devices, posts reports.

``api`` speaks to the servers (/api/v1/poller/*), ``runner`` pulls the site's schedules,
claims firings and devices, sweeps with ``cmdb.server.scans.manager.run_sweep`` and posts each
device's report (``device_report``) to /api/v1/reports with its poller token.
"""
