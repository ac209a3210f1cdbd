"""Helpers for tests, benchmarks and the demo (a local Google Sheets API stand-in)."""

from buyersync.testing.sheets_server import (
    SheetsServer,
    write_authorized_user,
    write_service_account,
)

__all__ = ["SheetsServer", "write_authorized_user", "write_service_account"]
