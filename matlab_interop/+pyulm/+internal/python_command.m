function cmd = python_command(python, args, workdir, redirect)
%PYTHON_COMMAND Shell command running PYTHON ARGS... inside WORKDIR.
%   REDIRECT (default ' 2>&1': stderr joins stdout) follows the command;
%   on Linux/macOS the shell is replaced by Python (exec), so that the
%   process id popen2 reports is Python's.
%   Every piece is quoted (pyulm.internal.shell_quote). Running in the private
%   temporary directory keeps files of the user's current folder (a numpy.py,
%   say) from shadowing Python modules. Under MATLAB on Linux/macOS, the
%   library variables MATLAB sets for itself are removed from the child's
%   environment (they break numpy/scipy/torch extension modules). On Linux,
%   the child's malloc is asked for transparent huge pages
%   (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, added to any tunables already
%   set; glibc >= 2.35, ignored by older ones): a new process touches all of
%   its memory for the first time, and huge pages make that several times
%   cheaper (per call and per GB moved, see matlab_interop/README.md).
q = @pyulm.internal.shell_quote;
if nargin < 4
    redirect = ' 2>&1';
end
parts = cell(1, numel(args));
for k = 1:numel(args)
    parts{k} = [' ' q(args{k})];
end
if ispc()
    cmd = ['cd /d ' q(workdir) ' && ' q(python) parts{:} redirect];
else
    env = '';
    if ~pyulm.internal.is_octave()
        env = '-u LD_LIBRARY_PATH -u LD_PRELOAD -u DYLD_LIBRARY_PATH -u MKL_NUM_THREADS ';
    end
    if ~ismac()
        tunables = getenv('GLIBC_TUNABLES');
        if isempty(strfind(tunables, 'glibc.malloc.hugetlb'))
            tunables = strjoin([regexp(tunables, '[^:]+', 'match') {'glibc.malloc.hugetlb=1'}], ':');
        end
        env = [env q(['GLIBC_TUNABLES=' tunables]) ' '];
    end
    if ~isempty(env)
        env = ['env ' env];
    end
    cmd = ['cd ' q(workdir) ' && exec ' env q(python) parts{:} redirect];
end
end
