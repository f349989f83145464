<?php
// A tiny PHP (pecl gearman / libgearman) client for gearsim's client-under-test vectors.
// usage: php php_client.php HOST PORT bg|fg
//   bg: doBackground('reverse', 'hello', 'u-bg'), print the handle, then jobStatus of it
//   fg: doNormal('reverse', 'hello', 'u-fg'), print the result
$client = new GearmanClient();
$client->addServer($argv[1], (int)$argv[2]);
$client->setTimeout(20000);
$mode = $argv[3] ?? 'bg';
if ($mode === 'bg') {
    $handle = $client->doBackground('reverse', 'hello', 'u-bg');
    if ($client->returnCode() != GEARMAN_SUCCESS) { echo "error: ", $client->error(), "\n"; exit(1); }
    echo "handle: $handle\n";
    $stat = $client->jobStatus($handle);
    echo "known: ", $stat[0] ? 1 : 0, " running: ", $stat[1] ? 1 : 0, " ", $stat[2], "/", $stat[3], "\n";
} else {
    $result = $client->doNormal('reverse', 'hello', 'u-fg');
    if ($client->returnCode() != GEARMAN_SUCCESS) { echo "error: ", $client->error(), "\n"; exit(1); }
    echo "result: $result\n";
}
