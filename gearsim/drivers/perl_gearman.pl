#!/usr/bin/perl
# gearsim driver for Perl's Gearman::Client and Gearman::Worker: a template for your own library.
#
# The driver protocol (spec/driver.md in gearsim): gearsim writes one JSON request a line on stdin
# and reads one JSON reply a line on stdout; anything for a human goes to stderr. The first request
# is "hello" (the role, client or worker, and the server addresses); the reply lists what this
# library can do. Every later request is one operation of the library's API. A library error is a
# reply {"ok": false, "error": {"kind": "library"|"timeout"|"lost"|"unsupported", "message": ...}}.
#
# Perl specifics: the client names jobs "HOST:PORT//HANDLE"; the driver reports the server's part
# and keeps the full name for get_status. The exceptions option is a constructor argument, so
# "option exceptions" makes a new client with it. The worker API takes CAN_DO_TIMEOUT in seconds
# (the driver converts the protocol's milliseconds, rounding up), and a work() that waits for a job
# is cut short by alarm() at the request's timeout.
use strict;
use warnings;
use Gearman::Client;
use Gearman::Worker;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(ceil);

$| = 1;
my $json = JSON::PP->new->canonical;
my @CLIENT_CAPABILITIES = qw(submit submit_background priority unique status option servers
    events_data events_warning events_status events_exception);
my @WORKER_CAPABILITIES = qw(register register_timeout unregister work servers
    work_status work_data work_warning work_fail work_exception work_abandon);

my ($client, $worker, @servers, %full_handle, $request, $next_behaviour, $last_job);

sub reply { print $json->encode({ id => $request->{id}, %{ $_[0] } }), "\n" }
sub failure { die { kind => $_[0], message => $_[1] } }
sub b64 { encode_base64(defined $_[0] ? $_[0] : '', '') }
# callbacks get the data itself or a reference to it, depending on the event
sub deref { ref $_[0] eq 'SCALAR' ? ${ $_[0] } : $_[0] }

sub hello {
    my ($req) = @_;
    @servers = @{ $req->{servers} };
    my $library = "Gearman::Client $Gearman::Client::VERSION";
    if ($req->{role} eq 'client') {
        $client = Gearman::Client->new(job_servers => [@servers]);
        return { library => $library, capabilities => [@CLIENT_CAPABILITIES] };
    }
    $worker = Gearman::Worker->new(job_servers => [@servers]);
    return { library => "Gearman::Worker $Gearman::Worker::VERSION", capabilities => [@WORKER_CAPABILITIES] };
}

# ---------------------------------------------------------------- client

sub wire_handle { my ($h) = @_; return undef unless defined $h; $h =~ s{^.*//}{}; return $h }

sub submit {
    my ($req) = @_;
    failure('unsupported', 'Gearman::Client cannot submit epoch jobs') if defined $req->{epoch};
    my $payload = decode_base64($req->{payload_b64});
    my %opts = (priority => $req->{priority}, timeout => $req->{timeout_ms} / 1000);
    $opts{uniq} = $req->{unique} if defined $req->{unique};
    if ($req->{background}) {
        my $handle = $client->dispatch_background($req->{function}, \$payload, \%opts)
            or failure('library', 'dispatch_background returned no handle');
        $full_handle{ wire_handle($handle) } = $handle;
        return { handle => wire_handle($handle) };
    }
    my %result = (handle => undef, outcome => undef, data_b64 => '', events => []);
    my $task = Gearman::Task->new($req->{function}, \$payload, {
        %opts,
        on_data     => sub { push @{ $result{events} }, { event => 'data', data_b64 => b64(deref($_[0])) } },
        on_warning  => sub { push @{ $result{events} }, { event => 'warning', data_b64 => b64(deref($_[0])) } },
        on_status   => sub {
            push @{ $result{events} }, { event => 'status', numerator => 0 + $_[0], denominator => 0 + $_[1] };
        },
        on_complete => sub { $result{outcome} = 'complete'; $result{data_b64} = b64(deref($_[0])) },
        on_fail     => sub { $result{outcome} ||= 'fail' },
        on_exception => sub { $result{outcome} = 'exception'; $result{data_b64} = b64(deref($_[0])) },
    });
    my $taskset = $client->new_task_set;
    my $handle = $taskset->add_task($task);
    failure('library', 'add_task returned no handle') unless defined $handle && $handle ne '';
    $result{handle} = wire_handle($handle);
    $taskset->wait(timeout => $req->{timeout_ms} / 1000);
    failure('timeout', 'no outcome before the timeout') unless defined $result{outcome};
    return \%result;
}

sub status {
    my ($req) = @_;
    my $handle = $full_handle{ $req->{handle} } || "$servers[0]//$req->{handle}";
    my $status = $client->get_status($handle) or failure('library', 'get_status returned nothing');
    my ($numerator, $denominator) = @{ $status->progress || [0, 0] };
    return { known => $status->known ? JSON::PP::true : JSON::PP::false,
             running => $status->running ? JSON::PP::true : JSON::PP::false,
             numerator => 0 + ($numerator || 0), denominator => 0 + ($denominator || 0) };
}

sub option {
    my ($req) = @_;
    failure('unsupported', 'only the exceptions option') unless $req->{name} eq 'exceptions';
    $client = Gearman::Client->new(job_servers => [@servers], exceptions => 1);
    return {};
}

# ---------------------------------------------------------------- worker

sub run_job {
    my ($job) = @_;
    $last_job = { handle => $job->handle, function => $job->{func}, unique => undef,
                  payload_b64 => b64($job->arg) };
    for my $step (@$next_behaviour) {
        my $do = $step->{do};
        my $data = decode_base64($step->{data_b64} // '');
        if ($do eq 'status') { $job->set_status($step->{numerator}, $step->{denominator}) }
        elsif ($do eq 'data') { $worker->send_work_data($job, $data) }
        elsif ($do eq 'warning') { $worker->send_work_warning($job, $data) }
        elsif ($do eq 'sleep') { select(undef, undef, undef, $step->{ms} / 1000) }
        elsif ($do eq 'complete') { return $data }
        elsif ($do eq 'fail') { return undef }
        elsif ($do eq 'exception') { $worker->send_work_exception($job, $data); return undef }
        elsif ($do eq 'abandon') { reply({ ok => JSON::PP::true, job => $last_job }); POSIX::_exit(0) }
    }
    return undef;
}

sub register {
    my ($req) = @_;
    my $limit = $req->{function_timeout_ms};
    my @timeout = defined $limit ? (ceil($limit / 1000)) : ();
    $worker->register_function($req->{function}, @timeout, \&run_job)
        or failure('library', "register_function $req->{function} failed");
    return {};
}

sub unregister {
    my ($req) = @_;
    $worker->unregister_function($req->{function}) or failure('library', 'unregister_function failed');
    return {};
}

sub work {
    my ($req) = @_;
    ($next_behaviour, $last_job) = ($req->{behaviour}, undef);
    my $done = 0;
    local $SIG{ALRM} = sub { die { kind => 'timeout', message => 'no job before the timeout' } };
    alarm(ceil($req->{timeout_ms} / 1000));
    eval { $worker->work(on_complete => sub { $done = 1 }, on_fail => sub { $done = 1 },
                         stop_if => sub { $done }); 1 } or do { alarm(0); die $@ };
    alarm(0);
    failure('library', 'work returned without a job') unless $last_job;
    return { job => $last_job };
}

# ---------------------------------------------------------------- the loop

my %ops = (hello => \&hello, submit => \&submit, status => \&status, option => \&option,
           register => \&register, unregister => \&unregister, work => \&work);
while (my $line = <STDIN>) {
    $request = $json->decode($line);
    my $op = $request->{op};
    if ($op eq 'bye') { reply({ ok => JSON::PP::true }); last }
    my $body = eval {
        failure('unsupported', "the Perl driver has no $op") unless $ops{$op};
        $ops{$op}->($request);
    };
    if (my $err = $@) {
        unless (ref $err eq 'HASH') {  # a die or croak of the library: its text, without Perl's "at FILE line N."
            (my $text = "$err") =~ s/ at \S+ line \d+\.?//g;
            $err = { kind => 'library', message => $text };
        }
        reply({ ok => JSON::PP::false, error => $err });
    } else {
        reply({ ok => JSON::PP::true, %$body });
    }
}
