# st.cmd of the generic test IOC, run by softIoc after iocInit (start.sh loads the records)
dbl
