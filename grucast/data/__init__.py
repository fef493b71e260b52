"""Files in and out, without torch: sniff (a file's first bytes), read (CSV/Parquet into a frame),
detect (which column is what), parse (numbers and dates), table (the tidy frame and its schema),
freq and panel (every series on a regular grid, one contiguous array) and write (output files).
"""
