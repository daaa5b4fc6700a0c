function worker_exit()
%WORKER_EXIT Stop the session's Python worker (registered with atexit when it starts).
%   The worker would end on its own when its input closes; stopping it here
%   also removes its temporary folder before Octave exits.
pyulm.internal.worker('stop');
end
