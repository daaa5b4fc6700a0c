function d = make_tempdir()
%MAKE_TEMPDIR Create a new private (owner-only) temporary directory.
for attempt = 1:20
    d = [tempname() '_pyulm'];
    if exist(d, 'dir') || exist(d, 'file')
        continue
    end
    if pyulm.internal.is_octave()
        old = umask(77);
        [ok, msg] = mkdir(d);
        umask(old);
    else
        [ok, msg] = mkdir(d);
        if ok && isunix()
            fileattrib(d, '-r -w -x', 'go');
        end
    end
    if ~ok
        pyulm.internal.raise('pyulm:TransportFailed', ...
                             sprintf('cannot create a temporary directory %s: %s (check tempdir = %s)', ...
                                     d, msg, tempdir()));
    end
    return
end
pyulm.internal.raise('pyulm:TransportFailed', ...
                     sprintf('cannot find a free temporary directory name under %s', tempdir()));
end
