"""The job pipeline: stage a file, cut it into chunks, resolve chunks, count the job done."""
