function doctor()
%DOCTOR Print what pyulm's MATLAB/Octave wrapper uses and what is wrong.
s = pyulm.internal.settings();
if pyulm.internal.is_octave()
    host = ['GNU Octave ' OCTAVE_VERSION];
else
    host = ['MATLAB ' version()];
end
fprintf('host:        %s on %s\n', host, computer());
fprintf('wrapper:     pyulm %s (%s)\n', pyulm.internal.wrapper_version(), fileparts(mfilename('fullpath')));
fprintf('python:      %s\n', s.python);
fprintf('transport:   %s\n', s.transport);
if ~pyulm.internal.is_octave()
    try
        pe = pyenv();
        fprintf('pyenv:       %s %s (%s, %s)\n', char(pe.Version), char(pe.Executable), ...
                char(pe.ExecutionMode), char(pe.Status));
    catch err
        fprintf('pyenv:       unavailable (%s)\n', err.message);
    end
    if isunix() && isempty(getenv('LD_PRELOAD'))
        fprintf(['hint:        if Python extension modules fail with GLIBCXX errors, start MATLAB with\n' ...
                 '             LD_PRELOAD=/lib/x86_64-linux-gnu/libstdc++.so.6 or use ''OutOfProcess''\n']);
    end
end
try
    info = pyulm.internal.call('info', 1, {});
    fprintf('pyulm:       %s in Python %s (%s), numpy %s\n', info.pyulm_version, info.python_version, ...
            info.executable, info.numpy_version);
    if strcmp(s.transport, 'file') && s.worker && pyulm.internal.worker('available')
        w = pyulm.internal.worker('info');
        fprintf('worker:      pid %d, %d calls served (pyulm.internal.worker(''stop'') restarts it)\n', w.pid, w.calls);
    end
    dropin = pyulm.internal.dropin_check('shadowed');
    if ~isempty(dropin) && ~isempty(strfind(path(), pyulm.internal.dropin_check('folder')))
        fprintf('drop-in:     %s is not the drop-in''s (PALA''s copy is ahead): run pyulm.dropin()\n', dropin{1});
    end
    fprintf('status:      OK\n');
catch err
    fprintf('status:      FAILED [%s] %s\n', err.identifier, err.message);
end
end
