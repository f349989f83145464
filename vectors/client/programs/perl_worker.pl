# A tiny Perl Gearman::Worker 'reverse' worker for gearsim's client-under-test vectors.
# usage: perl perl_worker.pl HOST PORT [JOBS]
use strict;
use warnings;
use Gearman::Worker;

my ($host, $port, $jobs) = @ARGV;
$jobs = 1 unless defined $jobs;
my $worker = Gearman::Worker->new(job_servers => ["$host:$port"]);
$worker->register_function(reverse => sub { return scalar reverse $_[0]->arg });
my $done = 0;
$worker->work(
    on_complete => sub { $done++ },
    stop_if     => sub { return $done >= $jobs },
);
print "worked: $done\n";
