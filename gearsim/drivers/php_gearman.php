<?php
// gearsim driver for PHP's gearman extension (pecl gearman on libgearman): a template for your own library.
//
// The driver protocol (spec/driver.md in gearsim): gearsim writes one JSON request a line on stdin
// and reads one JSON reply a line on stdout; anything for a human goes to stderr. The first request
// is "hello" (the role, client or worker, and the server addresses); the reply lists what this
// library can do. Every later request is one operation of the library's API. A library error is a
// reply {"ok": false, "error": {"kind": "library"|"timeout"|"lost"|"unsupported", "message": ...}}.
//
// PHP specifics: foreground jobs run as tasks (addTask + runTasks) so that their data, warning and
// status callbacks report each event; libgearman itself asks every server for the exceptions option.
// A worker's behaviour for the next job is kept in $next_behaviour for the function's callback.

const CLIENT_CAPABILITIES = ['submit', 'submit_background', 'priority', 'unique', 'status', 'status_unique',
    'option', 'servers', 'events_data', 'events_warning', 'events_status', 'events_exception'];
const WORKER_CAPABILITIES = ['register', 'register_timeout', 'unregister', 'work', 'client_id', 'servers',
    'work_status', 'work_data', 'work_warning', 'work_fail', 'work_exception', 'work_abandon'];

class Failure extends Exception {
    public $kind;
    function __construct($kind, $message) { parent::__construct($message); $this->kind = $kind; }
}

function write_reply($id, $body) {
    fwrite(STDOUT, json_encode(['id' => $id] + $body, JSON_UNESCAPED_SLASHES) . "\n");
    fflush(STDOUT);
}

// A libgearman return code as an error kind.
function failure($object, $what) {
    $code = $object->returnCode();
    $kind = 'library';
    if ($code == GEARMAN_TIMEOUT) $kind = 'timeout';
    if ($code == GEARMAN_LOST_CONNECTION || $code == GEARMAN_COULD_NOT_CONNECT) $kind = 'lost';
    return new Failure($kind, "$what: " . $object->error() . " (return code $code)");
}

$client = null;
$worker = null;
$next_behaviour = [];
$last_job = null;
$request = null;

function hello($req) {
    global $client, $worker;
    $object = $req['role'] == 'client' ? ($client = new GearmanClient()) : ($worker = new GearmanWorker());
    foreach ($req['servers'] as $address) {
        [$host, $port] = explode(':', $address);
        try {
            $object->addServer($host, (int)$port);
        } catch (GearmanException $e) {  // the client asks a server for the exceptions option at once
            fwrite(STDERR, "addServer($address): " . $e->getMessage() . "\n");
        }
    }
    return ['library' => 'php-gearman ' . phpversion('gearman') . ' (libgearman ' . gearman_version() . ')',
            'capabilities' => $req['role'] == 'client' ? CLIENT_CAPABILITIES : WORKER_CAPABILITIES];
}

// ------------------------------------------------------------------- client

function submit($req) {
    global $client;
    if (isset($req['epoch'])) throw new Failure('unsupported', 'the extension cannot submit epoch jobs');
    $client->setTimeout($req['timeout_ms']);
    $function = $req['function'];
    $payload = base64_decode($req['payload_b64']);
    $unique = $req['unique'];  // null: the library's own choice
    $priority = $req['priority'];
    if ($req['background']) {
        $call = ['high' => 'doHighBackground', 'normal' => 'doBackground', 'low' => 'doLowBackground'][$priority];
        $handle = $client->$call($function, $payload, $unique);
        if ($client->returnCode() != GEARMAN_SUCCESS) throw failure($client, $call);
        return ['handle' => $handle];
    }
    $result = ['handle' => null, 'outcome' => null, 'data_b64' => '', 'events' => []];
    $client->clearCallbacks();
    $client->setCreatedCallback(function ($task) use (&$result) { $result['handle'] = $task->jobHandle(); });
    $client->setDataCallback(function ($task) use (&$result) {
        $result['events'][] = ['event' => 'data', 'data_b64' => base64_encode($task->data())];
    });
    $client->setWarningCallback(function ($task) use (&$result) {
        $result['events'][] = ['event' => 'warning', 'data_b64' => base64_encode($task->data())];
    });
    $client->setStatusCallback(function ($task) use (&$result) {
        $result['events'][] = ['event' => 'status', 'numerator' => $task->taskNumerator(),
                               'denominator' => $task->taskDenominator()];
    });
    $client->setCompleteCallback(function ($task) use (&$result) {
        $result['outcome'] = 'complete';
        $result['data_b64'] = base64_encode($task->data());
    });
    $client->setFailCallback(function ($task) use (&$result) { $result['outcome'] = 'fail'; });
    $client->setExceptionCallback(function ($task) use (&$result) {
        $result['outcome'] = 'exception';
        $result['data_b64'] = base64_encode($task->data());
    });
    $call = ['high' => 'addTaskHigh', 'normal' => 'addTask', 'low' => 'addTaskLow'][$priority];
    $client->$call($function, $payload, null, $unique);
    $ran = $client->runTasks();
    if ($result['outcome'] === null) {
        if ($ran) throw new Failure('library', 'runTasks returned without an outcome');
        throw failure($client, 'runTasks');
    }
    return $result;
}

function status_reply($status) {
    return ['known' => (bool)$status[0], 'running' => (bool)$status[1],
            'numerator' => (int)$status[2], 'denominator' => (int)$status[3]];
}

function status($req) {
    global $client;
    $client->setTimeout($req['timeout_ms']);
    $status = $client->jobStatus($req['handle']);
    if ($client->returnCode() != GEARMAN_SUCCESS) throw failure($client, 'jobStatus');
    return status_reply($status);
}

function status_unique($req) {
    global $client;
    $client->setTimeout($req['timeout_ms']);
    $status = $client->jobStatusByUniqueKey($req['unique']);
    if ($client->returnCode() != GEARMAN_SUCCESS) throw failure($client, 'jobStatusByUniqueKey');
    return status_reply($status);
}

function option($req) {
    global $client;
    // the extension offers one server option: exceptions (libgearman asks for it on its own as well)
    if ($req['name'] != 'exceptions') throw new Failure('unsupported', 'only the exceptions option');
    if (!$client->enableExceptionHandler()) throw failure($client, 'enableExceptionHandler');
    return [];
}

// ------------------------------------------------------------------- worker

function run_job($job) {
    global $next_behaviour, $last_job, $request;
    $last_job = ['handle' => $job->handle(), 'function' => $job->functionName(), 'unique' => $job->unique(),
                 'payload_b64' => base64_encode($job->workload())];
    foreach ($next_behaviour as $step) {
        $data = base64_decode($step['data_b64'] ?? '');
        switch ($step['do']) {
            case 'status': $job->sendStatus($step['numerator'], $step['denominator']); break;
            case 'data': $job->sendData($data); break;
            case 'warning': $job->sendWarning($data); break;
            case 'sleep': usleep($step['ms'] * 1000); break;
            case 'complete': $job->sendComplete($data); return $data;
            case 'fail': $job->sendFail(); return null;
            case 'exception': $job->sendException($data); return null;
            case 'abandon':
                write_reply($request['id'], ['ok' => true, 'job' => $last_job]);
                posix_kill(posix_getpid(), SIGKILL);  // end as a crash would: no clean-up sends anything
        }
    }
    return null;
}

function register($req) {
    global $worker;
    $limit = $req['function_timeout_ms'] ?? 0;
    if (!$worker->addFunction($req['function'], 'run_job', null, $limit)) throw failure($worker, 'addFunction');
    return [];
}

function unregister($req) {
    global $worker;
    if (!$worker->unregister($req['function'])) throw failure($worker, 'unregister');
    return [];
}

function set_client_id($req) {
    global $worker;
    if (!$worker->setId($req['client_id'])) throw failure($worker, 'setId');
    return [];
}

function work($req) {
    global $worker, $next_behaviour, $last_job;
    $next_behaviour = $req['behaviour'];
    $last_job = null;
    $worker->setTimeout($req['timeout_ms']);
    $worker->work();
    if ($last_job === null) throw failure($worker, 'work');
    return ['job' => $last_job];
}

// ------------------------------------------------------------------- the loop

while (($line = fgets(STDIN)) !== false) {
    $request = json_decode($line, true);
    $op = $request['op'];
    try {
        if ($op == 'bye') { write_reply($request['id'], ['ok' => true]); break; }
        if (!in_array($op, ['hello', 'submit', 'status', 'status_unique', 'option', 'register', 'unregister',
                            'set_client_id', 'work'])) {
            throw new Failure('unsupported', "the PHP driver has no $op");
        }
        write_reply($request['id'], ['ok' => true] + $op($request));
    } catch (Failure $e) {
        write_reply($request['id'], ['ok' => false, 'error' => ['kind' => $e->kind, 'message' => $e->getMessage()]]);
    } catch (Throwable $e) {
        write_reply($request['id'], ['ok' => false, 'error' => ['kind' => 'library',
                                     'message' => get_class($e) . ': ' . $e->getMessage()]]);
    }
}
