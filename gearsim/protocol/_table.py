"""The packet table, generated from spec/packets.yaml by tools/gen_table.py.

Do not edit: change spec/packets.yaml and run `python tools/gen_table.py`.
"""

from __future__ import annotations

import enum
from typing import Any, Final


class PacketType(enum.IntEnum):
    """Gearman binary packet types, named as in the protocol."""

    #: internal marker for admin text; never valid on the wire
    TEXT = 0
    #: worker can run this function
    CAN_DO = 1
    #: worker no longer runs this function
    CANT_DO = 2
    #: worker forgets all its functions
    RESET_ABILITIES = 3
    #: worker is about to sleep; wake it with NOOP when work arrives
    PRE_SLEEP = 4
    #: reserved, never used
    UNUSED = 5
    #: wake-up for a sleeping worker
    NOOP = 6
    #: submit a foreground job at normal priority
    SUBMIT_JOB = 7
    #: the job's handle, in answer to a SUBMIT_*
    JOB_CREATED = 8
    #: worker asks for a job; answered by JOB_ASSIGN or NO_JOB
    GRAB_JOB = 9
    #: no job is available for this worker
    NO_JOB = 10
    #: a job for the worker, in answer to GRAB_JOB
    JOB_ASSIGN = 11
    #: progress of a job; forwarded to the job's clients
    WORK_STATUS = 12
    #: the job succeeded with this result; terminal
    WORK_COMPLETE = 13
    #: the job failed; terminal
    WORK_FAIL = 14
    #: ask for a job's status; answered by STATUS_RES
    GET_STATUS = 15
    #: ask the server to echo the data back
    ECHO_REQ = 16
    #: the echoed data
    ECHO_RES = 17
    #: submit a background job at normal priority
    SUBMIT_JOB_BG = 18
    #: the server refuses a request
    ERROR = 19
    #: status of a job, in answer to GET_STATUS
    STATUS_RES = 20
    #: submit a foreground job at high priority
    SUBMIT_JOB_HIGH = 21
    #: name this connection for the admin 'workers' listing
    SET_CLIENT_ID = 22
    #: CAN_DO with a per-job time limit
    CAN_DO_TIMEOUT = 23
    #: reserved; implemented nowhere
    ALL_YOURS = 24
    #: the job failed with this exception data; terminal in gearmand
    WORK_EXCEPTION = 25
    #: turn on a connection option; only 'exceptions' exists
    OPTION_REQ = 26
    #: the option was accepted; echoes the name as sent
    OPTION_RES = 27
    #: partial result data; forwarded to the job's clients
    WORK_DATA = 28
    #: warning data; forwarded to the job's clients
    WORK_WARNING = 29
    #: worker asks for a job with its unique id; answered by JOB_ASSIGN_UNIQ or NO_JOB
    GRAB_JOB_UNIQ = 30
    #: a job with its unique id
    JOB_ASSIGN_UNIQ = 31
    #: submit a background job at high priority
    SUBMIT_JOB_HIGH_BG = 32
    #: submit a foreground job at low priority
    SUBMIT_JOB_LOW = 33
    #: submit a background job at low priority
    SUBMIT_JOB_LOW_BG = 34
    #: submit a cron-scheduled background job
    SUBMIT_JOB_SCHED = 35
    #: submit a background job to run at a Unix time
    SUBMIT_JOB_EPOCH = 36
    #: submit a foreground map/reduce job
    SUBMIT_REDUCE_JOB = 37
    #: submit a background map/reduce job
    SUBMIT_REDUCE_JOB_BACKGROUND = 38
    #: worker asks for a job with unique and reducer; libgearman's default
    GRAB_JOB_ALL = 39
    #: a job with its unique id and reducer
    JOB_ASSIGN_ALL = 40
    #: ask for a job's status by unique id; answered by STATUS_RES_UNIQUE
    GET_STATUS_UNIQUE = 41
    #: status of a job found by unique id
    STATUS_RES_UNIQUE = 42


TABLE: Final[dict[str, Any]] = {'admin': [{'args': [],
            'name': 'workers',
            'reply': 'listing',
            'row': ['fd', 'ip', 'client_id', ':', 'functions...'],
            'summary': "one row per connection: fd, peer address, client id, ':', registered "
                       'functions'},
           {'args': [],
            'name': 'status',
            'reply': 'listing',
            'row': ['function', 'total', 'running', 'available_workers'],
            'separator': '\t',
            'summary': 'one row per known function: queued+running, running, workers'},
           {'args': [],
            'name': 'prioritystatus',
            'reply': 'listing',
            'row': ['function', 'high', 'normal', 'low', 'workers'],
            'separator': '\t',
            'summary': 'queued jobs per priority and workers, per function (gearmand 1.1.15+)'},
           {'args': ['function', '[max | high normal low]'],
            'eol': '\r\n',
            'name': 'maxqueue',
            'reply': 'line',
            'summary': 'set the queue limit of a function; OK'},
           {'args': [],
            'eol': '\n',
            'name': 'version',
            'reply': 'line',
            'summary': "server version: 'OK <version>' in gearmand, 'v<version>' in Perl"},
           {'args': [],
            'eol': '\n',
            'name': 'getpid',
            'reply': 'line',
            'summary': "server process id: 'OK <pid>'"},
           {'args': [],
            'eol': '\n',
            'name': 'verbose',
            'reply': 'line',
            'summary': "log level: 'OK <LEVEL>'"},
           {'args': [],
            'name': 'show jobs',
            'reply': 'listing',
            'row': ['handle', 'retries', 'ignore_job', 'job_queued'],
            'separator': '\t',
            'summary': 'one row per job'},
           {'args': [],
            'name': 'show unique jobs',
            'reply': 'listing',
            'row': ['unique'],
            'summary': 'one row per job: its unique id'},
           {'args': ['handle'],
            'eol': '\r\n',
            'name': 'cancel job',
            'reply': 'line',
            'summary': 'cancel a job: OK or ERR UNKNOWN_JOB'},
           {'args': ['function'],
            'eol': '\r\n',
            'name': 'create function',
            'reply': 'line',
            'summary': 'create a function with no workers or jobs: OK'},
           {'args': ['function'],
            'eol': '\r\n',
            'name': 'drop function',
            'reply': 'line',
            'summary': 'remove an idle function: OK or ERR'},
           {'args': ['[graceful]'],
            'eol': '\r\n',
            'name': 'shutdown',
            'reply': 'line',
            'summary': 'stop the server; removed from gearmand in 1.1.15, kept in Perl up to '
                       '1.130'}],
 'errors': [{'code': 'INVALID_MAGIC',
             'text': 'Request magic expected',
             'trigger': 'a request framed with \\0RES',
             'understood': False},
            {'code': 'INVALID_COMMAND',
             'text': 'Command not expected',
             'trigger': 'type 5, ALL_YOURS, SUBMIT_JOB_SCHED or any server-to-client type sent as '
                        'a request',
             'understood': False},
            {'code': 'ARGUMENT_TOO_LARGE',
             'text': 'Unique value too large',
             'trigger': 'a SUBMIT_JOB* or SUBMIT_JOB_EPOCH unique longer than 64 bytes; for '
                        'SUBMIT_REDUCE_JOB* a reducer longer than 64 bytes (gearmand checks the '
                        'reducer there, and a reduce unique of any length is accepted and stored '
                        'cut to 63 bytes)'},
            {'code': 'ARGUMENT_TOO_LARGE',
             'text': 'Error occurred due to GEARMAND_JOB_HANDLE_SIZE being too small from snprintf',
             'trigger': 'WORK_FAIL with a handle of 64 bytes or more'},
            {'code': 'QUEUE_ERROR',
             'text': 'Job queue is full',
             'trigger': "a new job over the function's maxqueue limit"},
            {'code': 'UNKNOWN_OPTION',
             'text': 'Server does not recognize given option',
             'trigger': "OPTION_REQ other than 'exceptions'"},
            {'code': 'JOB_NOT_FOUND',
             'text': 'Job given in work result not found',
             'trigger': 'WORK_STATUS, WORK_COMPLETE or WORK_FAIL for a job this connection does '
                        'not hold'},
            {'code': 'JOB_NOT_FOUND',
             'text': 'Job does not exist on server',
             'trigger': 'WORK_DATA or WORK_WARNING for a job this connection does not hold'},
            {'code': 'JOB_NOT_FOUND',
             'text': 'An exception was received for a job that does not exist',
             'trigger': 'WORK_EXCEPTION for a job this connection does not hold'}],
 'fields': {'aggregator': {'kind': 'text',
                           'summary': 'aggregator name; libgearman sends it empty and gearmand '
                                      'ignores it'},
            'client_count': {'kind': 'decimal', 'summary': 'number of foreground clients attached'},
            'client_id': {'kind': 'text',
                          'max': 127,
                          'summary': "connection identifier shown by the admin 'workers' command"},
            'code': {'kind': 'text', 'summary': 'error code word'},
            'data': {'kind': 'blob', 'summary': 'opaque data'},
            'day_of_month': {'kind': 'text', 'summary': 'cron-style day of month'},
            'day_of_week': {'kind': 'text', 'summary': 'cron-style day of week'},
            'denominator': {'kind': 'decimal', 'summary': 'progress denominator, decimal text'},
            'epoch': {'kind': 'decimal',
                      'summary': 'run time in seconds since the Unix epoch, decimal text'},
            'function': {'kind': 'text',
                         'max': 511,
                         'summary': 'function (ability) name; case-sensitive bytes'},
            'handle': {'kind': 'handle',
                       'max': 63,
                       'summary': 'server-assigned job handle, opaque, at most 63 bytes'},
            'hour': {'kind': 'text', 'summary': 'cron-style hour'},
            'known': {'kind': 'flag', 'summary': '1 if the server knows the job, else 0'},
            'minute': {'kind': 'text', 'summary': 'cron-style minute'},
            'month': {'kind': 'text', 'summary': 'cron-style month'},
            'numerator': {'kind': 'decimal', 'summary': 'progress numerator, decimal text'},
            'option': {'kind': 'text', 'max': 63, 'summary': 'option name'},
            'reducer': {'kind': 'text', 'max': 511, 'summary': 'reducer function name'},
            'result': {'kind': 'blob', 'summary': 'opaque job result'},
            'running': {'kind': 'flag', 'summary': '1 if a worker holds the job, else 0'},
            'text': {'kind': 'text', 'summary': 'human-readable error text'},
            'timeout': {'kind': 'decimal', 'summary': 'timeout in milliseconds, decimal text'},
            'unique': {'kind': 'unique',
                       'max': 63,
                       'summary': "client-chosen unique id; empty means none; '-' keys on the "
                                  'workload'},
            'workload': {'kind': 'blob', 'summary': 'opaque job payload'}},
 'header_size': 12,
 'magic': {'REQ': '00524551', 'RES': '00524553'},
 'packets': [{'args': [],
              'blob': False,
              'name': 'TEXT',
              'notes': 'gearmand closes the connection on type 0 [V]',
              'number': 0,
              'req': [],
              'res': [],
              'summary': 'internal marker for admin text; never valid on the wire'},
             {'args': ['function'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'CAN_DO',
              'notes': 'gearmand counts a repeated CAN_DO twice; gear and Perl keep a set',
              'number': 1,
              'req': ['worker'],
              'res': [],
              'summary': 'worker can run this function'},
             {'args': ['function'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'CANT_DO',
              'notes': 'gear drops the connection on CANT_DO of an unregistered name',
              'number': 2,
              'req': ['worker'],
              'res': [],
              'summary': 'worker no longer runs this function'},
             {'args': [],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'RESET_ABILITIES',
              'number': 3,
              'req': ['worker'],
              'res': [],
              'summary': 'worker forgets all its functions'},
             {'args': [],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'PRE_SLEEP',
              'number': 4,
              'req': ['worker'],
              'res': [],
              'summary': 'worker is about to sleep; wake it with NOOP when work arrives'},
             {'args': [],
              'blob': False,
              'name': 'UNUSED',
              'notes': 'gearmand replies ERROR INVALID_COMMAND [V]',
              'number': 5,
              'req': [],
              'res': [],
              'summary': 'reserved, never used'},
             {'args': [],
              'blob': False,
              'name': 'NOOP',
              'number': 6,
              'req': [],
              'res': ['worker'],
              'summary': 'wake-up for a sleeping worker'},
             {'args': ['function', 'unique', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'SUBMIT_JOB',
              'number': 7,
              'req': ['client'],
              'res': [],
              'summary': 'submit a foreground job at normal priority'},
             {'args': ['handle'],
              'blob': False,
              'name': 'JOB_CREATED',
              'number': 8,
              'req': [],
              'res': ['client'],
              'summary': "the job's handle, in answer to a SUBMIT_*"},
             {'args': [],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'GRAB_JOB',
              'notes': 'gear ignores GRAB_JOB without reply',
              'number': 9,
              'req': ['worker'],
              'res': [],
              'summary': 'worker asks for a job; answered by JOB_ASSIGN or NO_JOB'},
             {'args': [],
              'blob': False,
              'name': 'NO_JOB',
              'number': 10,
              'req': [],
              'res': ['worker'],
              'summary': 'no job is available for this worker'},
             {'args': ['handle', 'function', 'workload'],
              'blob': True,
              'name': 'JOB_ASSIGN',
              'number': 11,
              'req': [],
              'res': ['worker'],
              'summary': 'a job for the worker, in answer to GRAB_JOB'},
             {'args': ['handle', 'numerator', 'denominator'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'WORK_STATUS',
              'number': 12,
              'req': ['worker'],
              'res': ['client'],
              'summary': "progress of a job; forwarded to the job's clients",
              'work': 'update'},
             {'args': ['handle', 'result'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'WORK_COMPLETE',
              'number': 13,
              'req': ['worker'],
              'res': ['client'],
              'summary': 'the job succeeded with this result; terminal',
              'work': 'terminal'},
             {'args': ['handle'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'WORK_FAIL',
              'notes': "gearmand's WORK_FAIL converted from WORK_EXCEPTION carries a trailing NUL "
                       'after the handle [V]',
              'number': 14,
              'req': ['worker'],
              'res': ['client'],
              'summary': 'the job failed; terminal',
              'work': 'terminal'},
             {'args': ['handle'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'GET_STATUS',
              'number': 15,
              'req': ['client'],
              'res': [],
              'summary': "ask for a job's status; answered by STATUS_RES"},
             {'args': ['data'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'ECHO_REQ',
              'notes': 'gear never answers ECHO_REQ',
              'number': 16,
              'req': ['client', 'worker'],
              'res': [],
              'summary': 'ask the server to echo the data back'},
             {'args': ['data'],
              'blob': True,
              'name': 'ECHO_RES',
              'number': 17,
              'req': [],
              'res': ['client', 'worker'],
              'summary': 'the echoed data'},
             {'args': ['function', 'unique', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'SUBMIT_JOB_BG',
              'number': 18,
              'req': ['client'],
              'res': [],
              'summary': 'submit a background job at normal priority'},
             {'args': ['code', 'text'],
              'blob': False,
              'name': 'ERROR',
              'notes': 'gearmand codes are libgearman names without GEARMAN_ (INVALID_MAGIC); Perl '
                       'uses lower-case words; gear adds a trailing NUL',
              'number': 19,
              'req': [],
              'res': ['client', 'worker'],
              'summary': 'the server refuses a request'},
             {'args': ['handle', 'known', 'running', 'numerator', 'denominator'],
              'blob': False,
              'name': 'STATUS_RES',
              'notes': 'gearmand prints 0/0 when no WORK_STATUS was seen; Perl and gear send empty '
                       'numerator and denominator',
              'number': 20,
              'req': [],
              'res': ['client'],
              'summary': 'status of a job, in answer to GET_STATUS'},
             {'args': ['function', 'unique', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'SUBMIT_JOB_HIGH',
              'number': 21,
              'req': ['client'],
              'res': [],
              'summary': 'submit a foreground job at high priority'},
             {'args': ['client_id'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'SET_CLIENT_ID',
              'number': 22,
              'req': ['client', 'worker'],
              'res': [],
              'summary': "name this connection for the admin 'workers' listing"},
             {'args': ['function', 'timeout'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'CAN_DO_TIMEOUT',
              'notes': 'gearmand: milliseconds, minimum 1000, requeues on expiry; Perl: seconds, '
                       'fails the job; PROTOCOL: fail and notify',
              'number': 23,
              'req': ['worker'],
              'res': [],
              'summary': 'CAN_DO with a per-job time limit'},
             {'args': [],
              'blob': False,
              'name': 'ALL_YOURS',
              'notes': 'gearmand replies ERROR INVALID_COMMAND [V]',
              'number': 24,
              'req': ['worker'],
              'res': [],
              'summary': 'reserved; implemented nowhere'},
             {'args': ['handle', 'data'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'WORK_EXCEPTION',
              'notes': 'gearmand sends it only to clients with OPTION exceptions, others get '
                       'WORK_FAIL; Perl keeps the job running',
              'number': 25,
              'req': ['worker'],
              'res': ['client'],
              'summary': 'the job failed with this exception data; terminal in gearmand',
              'work': 'terminal'},
             {'args': ['option'],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'OPTION_REQ',
              'number': 26,
              'req': ['client', 'worker'],
              'res': [],
              'summary': "turn on a connection option; only 'exceptions' exists"},
             {'args': ['option'],
              'blob': False,
              'name': 'OPTION_RES',
              'number': 27,
              'req': [],
              'res': ['client', 'worker'],
              'summary': 'the option was accepted; echoes the name as sent'},
             {'args': ['handle', 'data'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'WORK_DATA',
              'number': 28,
              'req': ['worker'],
              'res': ['client'],
              'summary': "partial result data; forwarded to the job's clients",
              'work': 'update'},
             {'args': ['handle', 'data'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'WORK_WARNING',
              'number': 29,
              'req': ['worker'],
              'res': ['client'],
              'summary': "warning data; forwarded to the job's clients",
              'work': 'update'},
             {'args': [],
              'blob': False,
              'implement': 'GM-SERVER-001',
              'name': 'GRAB_JOB_UNIQ',
              'number': 30,
              'req': ['worker'],
              'res': [],
              'summary': 'worker asks for a job with its unique id; answered by JOB_ASSIGN_UNIQ or '
                         'NO_JOB'},
             {'args': ['handle', 'function', 'unique', 'workload'],
              'blob': True,
              'name': 'JOB_ASSIGN_UNIQ',
              'number': 31,
              'req': [],
              'res': ['worker'],
              'summary': 'a job with its unique id'},
             {'args': ['function', 'unique', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'SUBMIT_JOB_HIGH_BG',
              'number': 32,
              'req': ['client'],
              'res': [],
              'summary': 'submit a background job at high priority'},
             {'args': ['function', 'unique', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'SUBMIT_JOB_LOW',
              'number': 33,
              'req': ['client'],
              'res': [],
              'summary': 'submit a foreground job at low priority'},
             {'args': ['function', 'unique', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-001',
              'name': 'SUBMIT_JOB_LOW_BG',
              'number': 34,
              'req': ['client'],
              'res': [],
              'summary': 'submit a background job at low priority'},
             {'args': ['function',
                       'unique',
                       'minute',
                       'hour',
                       'day_of_month',
                       'month',
                       'day_of_week',
                       'workload'],
              'blob': True,
              'name': 'SUBMIT_JOB_SCHED',
              'notes': 'parsed and refused by gearmand (ERROR INVALID_COMMAND); implemented '
                       'nowhere',
              'number': 35,
              'req': ['client'],
              'res': [],
              'summary': 'submit a cron-scheduled background job'},
             {'args': ['function', 'unique', 'epoch', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-003',
              'name': 'SUBMIT_JOB_EPOCH',
              'number': 36,
              'req': ['client'],
              'res': [],
              'summary': 'submit a background job to run at a Unix time'},
             {'args': ['function', 'unique', 'reducer', 'aggregator', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-003',
              'name': 'SUBMIT_REDUCE_JOB',
              'notes': 'gearmand and libgearman use 4 NUL-terminated arguments (aggregator sent '
                       'empty, ignored); the PROTOCOL document shows 3 (no aggregator), which '
                       'gearmand cannot parse',
              'number': 37,
              'req': ['client'],
              'res': [],
              'summary': 'submit a foreground map/reduce job',
              'variants': {'protocol-document': ['function', 'unique', 'reducer', 'workload']}},
             {'args': ['function', 'unique', 'reducer', 'aggregator', 'workload'],
              'blob': True,
              'implement': 'GM-SERVER-003',
              'name': 'SUBMIT_REDUCE_JOB_BACKGROUND',
              'notes': 'same layout as SUBMIT_REDUCE_JOB; Wireshark calls it SUBMIT_REDUCE_JOB_BG',
              'number': 38,
              'req': ['client'],
              'res': [],
              'summary': 'submit a background map/reduce job',
              'variants': {'protocol-document': ['function', 'unique', 'reducer', 'workload']}},
             {'args': [],
              'blob': False,
              'implement': 'GM-SERVER-002',
              'name': 'GRAB_JOB_ALL',
              'notes': 'gearmand answers JOB_ASSIGN_ALL only for a job with a reducer, else '
                       'JOB_ASSIGN_UNIQ',
              'number': 39,
              'req': ['worker'],
              'res': [],
              'summary': "worker asks for a job with unique and reducer; libgearman's default"},
             {'args': ['handle', 'function', 'unique', 'reducer', 'workload'],
              'blob': True,
              'name': 'JOB_ASSIGN_ALL',
              'number': 40,
              'req': [],
              'res': ['worker'],
              'summary': 'a job with its unique id and reducer'},
             {'args': ['unique'],
              'blob': False,
              'implement': 'GM-SERVER-002',
              'name': 'GET_STATUS_UNIQUE',
              'number': 41,
              'req': ['client'],
              'res': [],
              'summary': "ask for a job's status by unique id; answered by STATUS_RES_UNIQUE"},
             {'args': ['unique', 'known', 'running', 'numerator', 'denominator', 'client_count'],
              'blob': False,
              'name': 'STATUS_RES_UNIQUE',
              'notes': "the PROTOCOL document names the first field 'job handle'; gearmand sends "
                       'the unique',
              'number': 42,
              'req': [],
              'res': ['client'],
              'summary': 'status of a job found by unique id'}],
 'schema': 'gearsim-packets/1'}
