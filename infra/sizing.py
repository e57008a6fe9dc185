"""Function sizes, chosen from measurement rather than guessed.

`scripts/measure_validator.py` validates generated rosters in a fresh process that first
imports the validator handler (boto3, Powertools, pydantic), as Lambda does. On 2026-12-03, on
a 2-core development machine (Python 3.11, the file in the page cache):

| roster | size | validation | peak resident memory |
| --- | --- | --- | --- |
| handler import only | | | 70 MB |
| 1,000,000 valid rows | 50 MB | 2.1 s | 70 MB |
| 1,000,000 rows, every row breaking two rules | 52 MB | 2.5 s | 70 MB |
| 5,000,000 rows (over the limit: counted, not checked) | 250 MB | 3.7 s | 70 MB |

Memory does not grow with the file (validation streams), so memory is not what sizes the
validator: CPU is. Lambda gives a function CPU in proportion to its memory, one full vCPU at
1,769 MB, and the validator runs on one thread, so below 1,769 MB a file takes proportionally
longer for the same GB-seconds (the same cost), and above it nothing gets faster.
"""

from aws_cdk import Duration

# Measured figures (see above): seconds to validate 1,000,000 rows, and the peak memory.
MEASURED_SECONDS_PER_MILLION_ROWS = 2.5
MEASURED_PEAK_MB = 70
# Lambda's memory for one full vCPU.
ONE_VCPU_MB = 1769

VALIDATOR_MEMORY_MB = ONE_VCPU_MB
# A batch holds up to five files. Five 1,000,000-row files take about 12.5 s of CPU at one
# vCPU here; allowing Lambda's vCPU to be twice as slow as this machine and the S3 read to add
# as much again gives about 50 s, so three minutes leaves more than three times that.
VALIDATOR_BATCH_SIZE = 5
VALIDATOR_TIMEOUT = Duration.minutes(3)

# The uploader streams the file to CERS and waits: CERS validates the file inside the POST,
# and a large roster keeps the request open for minutes. Its work is network-bound, so it needs
# little memory; its timeout follows CERS, not this machine.
# About 20 minutes for 1,000,000 rows, per the state's guide: the uploader gets Lambda's maximum
# and stops waiting for the answer after cers_groups.settings.DEFAULT_READ_TIMEOUT (13 minutes),
# then looks the import up by batch instead of sending again.
UPLOADER_MEMORY_MB = 512
UPLOADER_TIMEOUT = Duration.minutes(15)
# At most this many uploads at once across all districts (one per district at a time anyway,
# through the FIFO message groups), which also bounds the load on CERS.
UPLOADER_CONCURRENCY = 5

# AWS guidance for SQS event sources: visibility timeout at least six times the function's.
VISIBILITY_FACTOR = 6
