"""Files in and out, never torch: sniff (a file's first bytes, standard library only), read (a CSV
or Parquet file, or a caller's DataFrame, into a raw frame), detect (which column is what), parse
(numbers and times), schema (Schema and Table, the words the rest share), table (raw frame ->
tidy Table), freq and panel (every series on a regular grid, one contiguous array) and write
(output files).
"""
