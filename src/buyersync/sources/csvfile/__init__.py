"""The parts of the CSV reader (:class:`buyersync.sources.csv_source.CsvSource`).

* :mod:`.files` — the file itself: only a regular file is opened (never blocking on a
  FIFO), a binary file is refused, and the first undecodable byte is named;
* :mod:`.dialect` — the delimiter: given by name or character, or detected from the
  header and the rows under it;
* :mod:`.checks` — proof that the whole file was read: a first row that is data, a
  quote that is not closed, a field or line over its limit, a line count that disagrees
  with the bytes.
"""
