# A tiny Perl Gearman::Client for gearsim's client-under-test vectors.
# usage: perl perl_client.pl HOST PORT bg|fg
#   bg: dispatch_background('reverse', 'hello', {uniq => 'u-bg'}), print the handle, then get_status
#   fg: do_task('reverse', 'hello', {uniq => 'u-fg'}), print the result
use strict;
use warnings;
use Gearman::Client;

my ($host, $port, $mode) = @ARGV;
my $client = Gearman::Client->new(job_servers => ["$host:$port"]);
if ($mode eq 'bg') {
    my $handle = $client->dispatch_background('reverse', 'hello', {uniq => 'u-bg'});
    die "no handle\n" unless defined $handle;
    print "handle: $handle\n";
    my $status = $client->get_status($handle);
    printf "known: %d running: %d\n", $status->known ? 1 : 0, $status->running ? 1 : 0;
} else {
    my $result = $client->do_task('reverse', 'hello', {uniq => 'u-fg', timeout => 20});
    die "no result\n" unless defined $result;
    print "result: $$result\n";
}
