"""The parts of the Excel reader (:class:`buyersync.sources.xlsx_source.XlsxSource`).

* :mod:`.workbook` — opening the package: is it a workbook at all (encrypted, old
  ``.xls``, not a zip), its sheets, date system, styles and shared strings parts;
* :mod:`.cells` — one cell's value as the text a person sees; the raw-row type both
  readers yield; the problem an error cell raises;
* :mod:`.formats` — number formats per cell style (date, duration, plain number);
* :mod:`.calamine` — the python-calamine reader (fast, whole sheet in memory), and
  the scan for error cells it cannot report;
* :mod:`.streaming` — the streaming OOXML reader for very large sheets.
"""
