<?php
// A tiny PHP (pecl gearman / libgearman) 'reverse' worker for gearsim's client-under-test vectors.
// usage: php php_worker.php HOST PORT all|plain [JOBS]
//   all:   libgearman's default, GRAB_JOB_ALL
//   plain: removeOptions(512) clears libgearman's GEARMAN_WORKER_GRAB_ALL bit (the extension does
//          not export the constant), so the worker sends plain GRAB_JOB
$worker = new GearmanWorker();
$worker->addServer($argv[1], (int)$argv[2]);
if (($argv[3] ?? 'all') === 'plain') {
    $worker->removeOptions(512);
}
$worker->setTimeout(20000);
$jobs = (int)($argv[4] ?? 1);
$worker->addFunction('reverse', function (GearmanJob $job) {
    return strrev($job->workload());
});
$done = 0;
while ($worker->work()) {
    if ($worker->returnCode() != GEARMAN_SUCCESS) break;
    if (++$done == $jobs) break;
}
echo "worked: $done\n";
